"""Learning-rate and hyperparameter schedules: pure functions ``count -> value``.

Modules: :mod:`.basic` (constant, linear, polynomial, piecewise, exponential,
step and inverse-time decay, warmup-then-constant/exponential),
:mod:`.cosine` (cosine decay, warmup-cosine, SGDR, cosine restarts,
one-cycle), :mod:`.modern` (warmup-stable-decay, inverse square root,
cyclical), :mod:`.combine` (``join_schedules``, ``multiply_schedules``).

Every schedule maps an int32 step count (a scalar or an array of counts; the
optimizer passes the pre-increment count, so the first update sees
``count = 0``) to a value of at least float32 precision. The public names are
re-exported from :mod:`functional_opt`; import them from there.
"""
