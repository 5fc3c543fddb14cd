"""The named optimizers, each a short documented ``chain(...)`` of transforms.

The public names are re-exported from :mod:`functional_opt`; import them from
there.
"""
