"""Connectionist temporal classification (CTC): the negative log-likelihood of a label sequence.

One value per sequence; the forward (alpha) recursion is a ``jax.lax.scan``
over time in log space, with padded frames and padded labels as optax's
``ctc_loss`` (the same arguments, the same ``(B, T, K)`` batch-major layout,
the same forward probabilities).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from functional_opt._hparams import check_int, upcast_floating


def _check_ctc_args(logits, logit_paddings, labels, label_paddings, blank_id):
    if jnp.ndim(logits) != 3:
        raise ValueError(f"logits must have shape (batch, time, classes), got shape {jnp.shape(logits)}")
    if jnp.ndim(labels) != 2:
        raise ValueError(f"labels must have shape (batch, max_label_length), got shape {jnp.shape(labels)}")
    b, t, k = jnp.shape(logits)
    if jnp.shape(logit_paddings) != (b, t):
        raise ValueError(
            f"logit_paddings must have shape {(b, t)} (logits' batch and time), got {jnp.shape(logit_paddings)}"
        )
    if jnp.shape(labels)[0] != b:
        raise ValueError(f"labels must have batch size {b} (as logits), got {jnp.shape(labels)[0]}")
    if jnp.shape(label_paddings) != jnp.shape(labels):
        raise ValueError(
            f"label_paddings must have the shape of labels {jnp.shape(labels)}, got {jnp.shape(label_paddings)}"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise TypeError(f"labels must be an integer array, got dtype {jnp.result_type(labels)}")
    check_int("blank_id", blank_id, low=0)
    if blank_id >= k:
        raise ValueError(f"blank_id must be in [0, {k}) (the number of classes), got {blank_id}")
    if not isinstance(label_paddings, jax.core.Tracer):
        pad = np.asarray(label_paddings)
        if pad.size and np.any(np.diff(pad.astype(np.float64), axis=1) < 0):
            raise ValueError("label_paddings must be right-padded: each row zeros then ones")


def ctc_loss_with_forward_probs(logits, logit_paddings, labels, label_paddings, *, blank_id=0, log_epsilon=-1e5):
    """CTC loss and the forward log-probabilities of the alignment lattice.

    With ``y = labels[b, :L]`` (``L`` = the unpadded label length), ``p_t =
    softmax(logits[b, t])`` over the frames that are not padded, and
    ``phi = blank_id``, the loss is ``-log sum_pi prod_t p_t(pi_t)`` over the
    alignments ``pi`` that reduce to ``y`` (merge repeats, drop blanks). Two
    forward variables run over time::

        B[t, n] = log p_t(phi) + logaddexp(B[t-1, n], E[t-1, n-1])
        E[t, n] = log p_t(y_n) + logsumexp(E[t-1, n], B[t-1, n],
                                           E[t-1, n-1] [only if y_n != y_{n-1}])

    ``B[t, n]``: ``n`` labels emitted, last frame a blank (``n = 0..N``);
    ``E[t, n]``: labels ``0..n`` emitted, last frame label ``n``
    (``n = 0..N-1``). ``B[-1, 0] = 0`` and every other start is
    ``log_epsilon`` (a finite stand-in for ``log 0``; a disallowed
    transition also adds ``log_epsilon``). A padded frame copies the
    previous values. The last row of ``B`` is then
    ``logaddexp(B[T-1, n], E[T-1, n-1])`` (either end state) and the loss is
    ``-B[T-1, L]``.

    Conventions (as optax): batch-major ``logits (B, T, K)``, paddings are
    ``1.0`` on padded positions (frames and labels are right-padded), the
    blank is a class index (``blank_id``). torch's ``ctc_loss`` takes
    time-major log-probabilities, lengths ``T - sum(logit_paddings)`` and
    ``N - sum(label_paddings)``, and its ``blank``; with
    ``reduction="none"`` it gives the same values. An impossible alignment
    (too few frames) gives a loss near ``-log_epsilon`` here (torch: inf).

    Args:
        logits: floating ``(B, T, K)`` logits, ``K`` classes including the blank.
        logit_paddings: ``(B, T)`` array of 0/1, 1 on padded frames.
        labels: integer ``(B, N)`` labels (right-padded).
        label_paddings: ``(B, N)`` array of 0/1, 1 on padded labels.
        blank_id: the class index of the blank.
        log_epsilon: the finite value used for ``log 0``.

    Returns:
        ``(loss, logalpha_blank, logalpha_nonblank)``: ``loss`` of shape
        ``(B,)``; ``logalpha_blank`` ``(T, B, N + 1)`` is ``B`` and
        ``logalpha_nonblank`` ``(T, B, N)`` is ``E`` above.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> logits = jnp.zeros((1, 3, 3))  # uniform over {blank, 1, 2}
        >>> loss, blank, nonblank = fo.losses.ctc_loss_with_forward_probs(
        ...     logits, jnp.zeros((1, 3)), jnp.array([[1, 2]]), jnp.zeros((1, 2)))
        >>> round(float(loss[0]), 4), blank.shape, nonblank.shape  # -log(5 / 27)
        (1.6864, (3, 1, 3), (3, 1, 2))

    References:
        Graves, Fernandez, Gomez & Schmidhuber, "Connectionist Temporal
        Classification: Labelling Unsegmented Sequence Data with Recurrent
        Neural Networks", ICML 2006.
    """
    _check_ctc_args(logits, logit_paddings, labels, label_paddings, blank_id)
    z, out = upcast_floating("logits", logits)
    dt = z.dtype
    batch, _, num_classes = z.shape
    max_len = jnp.shape(labels)[1]
    labels = jnp.asarray(labels)
    eps = jnp.asarray(log_epsilon).astype(dt)

    logp = jax.nn.log_softmax(z, axis=-1)
    lp_blank = jnp.moveaxis(logp[:, :, blank_id], 1, 0)  # (T, B)
    safe_labels = jnp.clip(labels, 0, num_classes - 1)
    lp_label = jnp.take_along_axis(logp, safe_labels[:, None, :], axis=2)  # (B, T, N)
    lp_label = jnp.moveaxis(lp_label, 1, 0)  # (T, B, N)
    frame_pad = jnp.moveaxis(jnp.asarray(logit_paddings), 1, 0) > 0.5  # (T, B)
    # same[b, n]: label n repeats label n - 1, so E[n-1] -> E[n] needs a blank in between (n >= 1)
    same = jnp.pad(labels[:, 1:] == labels[:, :-1], ((0, 0), (1, 0)))
    skip_penalty = jnp.where(same, eps, 0.0)  # (B, N)

    def after_eps(x):
        """``log_epsilon`` then ``x`` along the last axis: entry ``n`` is ``x[n-1]``."""
        return jnp.concatenate([jnp.full(x.shape[:-1] + (1,), eps, x.dtype), x], axis=-1)

    def step(carry, frame):
        b_prev, e_prev = carry  # (B, N+1), (B, N)
        lpb, lpy, pad = frame
        e_before = after_eps(e_prev[:, :-1])  # E[t-1, n-1] for n = 0..N-1
        e_new = lpy + jnp.logaddexp(jnp.logaddexp(b_prev[:, :-1], e_before + skip_penalty), e_prev)
        b_new = lpb[:, None] + jnp.logaddexp(b_prev, after_eps(e_prev))
        b_new = jnp.where(pad[:, None], b_prev, b_new)
        e_new = jnp.where(pad[:, None], e_prev, e_new)
        return (b_new, e_new), (b_new, e_new)

    b0 = jnp.full((batch, max_len + 1), eps, dt).at[:, 0].set(0.0)
    e0 = jnp.full((batch, max_len), eps, dt)
    (b_last, e_last), (alpha_b, alpha_e) = jax.lax.scan(step, (b0, e0), (lp_blank, lp_label, frame_pad))
    final = jnp.logaddexp(b_last, after_eps(e_last))
    final = final.at[:, 0].set(b_last[:, 0])
    alpha_b = alpha_b.at[-1].set(final)
    lengths = max_len - jnp.sum(jnp.asarray(label_paddings), axis=1).astype(jnp.int32)
    loss = -jnp.take_along_axis(final, lengths[:, None], axis=1)[:, 0]
    return loss.astype(out), alpha_b.astype(out), alpha_e.astype(out)


def ctc_loss(logits, logit_paddings, labels, label_paddings, *, blank_id=0, log_epsilon=-1e5):
    """CTC loss: ``-log p(labels | logits)`` summed over all alignments, one value per sequence.

    ``l_b = -log sum_{pi -> y_b} prod_t softmax(logits[b, t])[pi_t]``, the
    sum over the frame-level alignments ``pi`` (over the unpadded frames)
    that reduce to the unpadded labels ``y_b`` after merging repeats and
    removing blanks. See :func:`ctc_loss_with_forward_probs` for the
    recursion and the conventions (optax's padding arrays and batch-major
    layout; torch's ``ctc_loss(reduction="none")`` on the time-major
    log-softmax with lengths is the same value).

    Args:
        logits: floating ``(B, T, K)`` logits, ``K`` classes including the blank.
        logit_paddings: ``(B, T)`` array of 0/1, 1 on padded frames.
        labels: integer ``(B, N)`` labels (right-padded).
        label_paddings: ``(B, N)`` array of 0/1, 1 on padded labels.
        blank_id: the class index of the blank.
        log_epsilon: the finite value used for ``log 0``.

    Returns:
        The ``(B,)`` losses, in the logits' dtype.

    Examples:
        >>> import jax.numpy as jnp
        >>> import functional_opt as fo
        >>> loss = fo.losses.ctc_loss(jnp.zeros((1, 3, 3)), jnp.zeros((1, 3)), jnp.array([[1, 2]]), jnp.zeros((1, 2)))
        >>> loss.round(4)  # 5 alignments of 27: 12_, 1_2, _12, 112, 122
        Array([1.6864], dtype=float32)

    References:
        Graves et al., "Connectionist Temporal Classification", ICML 2006.
    """
    loss, _, _ = ctc_loss_with_forward_probs(
        logits, logit_paddings, labels, label_paddings, blank_id=blank_id, log_epsilon=log_epsilon
    )
    return loss
