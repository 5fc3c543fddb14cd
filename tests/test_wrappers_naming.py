"""named_chain, find_states, get_substate."""

from __future__ import annotations

import chex
import pytest

import functional_opt as fo
from tests.helpers import Fixtures

_FX = Fixtures(6)
params, grads_seq = _FX.params, _FX.grads_seq


def test_named_chain_and_substate_lookup():
    p = params()
    gs = grads_seq(p, 5)
    named = fo.named_chain(("clip", fo.clip_by_global_norm(1.0)), ("adam", fo.adam(0.1)))
    plain = fo.chain(fo.clip_by_global_norm(1.0), fo.adam(0.1))
    sn, sp = named.init(p), plain.init(p)
    for g in gs:
        un, sn = named.update(g, sn, p)
        up, sp = plain.update(g, sp, p)
        chex.assert_trees_all_close(un, up)
    assert list(sn) == ["clip", "adam"]
    adam_state = fo.get_substate({"outer": (sn,)}, "adam")
    chex.assert_trees_all_equal(adam_state, sp[1])
    with pytest.raises(KeyError, match="nope"):
        fo.get_substate(sn, "nope")
    with pytest.raises(ValueError, match="distinct"):
        fo.named_chain(("a", fo.identity()), ("a", fo.identity()))
    with pytest.raises(TypeError, match="pair"):
        fo.named_chain(fo.identity())
    assert len(fo.find_states(sn, fo.ScaleByAdamState)) == 1
