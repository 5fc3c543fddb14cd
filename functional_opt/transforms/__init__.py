"""Gradient transformations, one algorithmic idea per module.

The public names are re-exported from :mod:`functional_opt`; import them from
there.
"""
