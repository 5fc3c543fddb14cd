"""The named optimizers, each a short documented ``chain(...)`` of transforms.

Their public path is the top level (``fo.adamw``, ``fo.lion``); the ones
optax keeps in ``optax.contrib`` are also listed in ``fo.contrib``. The
modules here group the optimizers by family and are not a namespace of
their own.
"""
