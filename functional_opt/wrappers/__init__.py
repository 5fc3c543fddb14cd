"""Wrappers and combinators: parameter groups, accumulation, guards, injected
hyperparameters, parameter averaging, named chains, stacked layers.

Their public path is the top level (``fo.masked``, ``fo.multi_steps``); the
ones optax keeps in ``optax.transforms`` or ``optax.schedules`` are also
listed in ``fo.transforms`` and ``fo.schedules``. The modules here are not a
namespace of their own.
"""
