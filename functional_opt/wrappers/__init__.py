"""Wrappers and combinators: parameter groups, accumulation, guards, injected
hyperparameters, parameter averaging, named chains.

The public names are re-exported from :mod:`functional_opt`; import them from
there.
"""
