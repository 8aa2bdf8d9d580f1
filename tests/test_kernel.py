"""The fused kernel's own promises: its random numbers are numpy's, and it keeps the streams' positions."""

import numpy as np
from numba import njit

from egov_abm.model import AdoptionModel, kernel
from egov_abm.model.streams import seed_sequence, spawn_streams


@njit
def _draws(state, n):
    out = np.empty(n)
    hi, lo = state[0], state[1]
    for i in range(n):
        hi, lo, x = kernel.pcg64_next(hi, lo, state[2], state[3])
        out[i] = (x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return out


def test_inline_pcg64_gives_numpys_numbers():
    for seed in (0, 7, 2**63 - 1):
        gen = np.random.default_rng(seed)
        state = kernel.stream_state(gen)
        np.testing.assert_array_equal(_draws(state, 1000), gen.random(1000))
        # a stream positioned k draws on starts where the k-th draw would
        np.testing.assert_array_equal(_draws(kernel.stream_state(gen, 123), 5), gen.random(128)[123:])


def test_split_gives_two_uniforms_from_the_top_53_bits():
    bits = np.uint64(0b1011) << np.uint64(11 + 27) | np.uint64(5) << np.uint64(11)  # top 26 bits 11, next 27 bits 5
    first, second = njit(lambda x: kernel._split(x))(bits)
    assert (first, second) == (11 / 2**26, 5 / 2**27)


def test_each_month_draws_one_number_per_citizen_from_each_kernel_stream():
    m = AdoptionModel(seed=5, n_agents=1234, create_agents=False)
    m.run(3)
    fresh = spawn_streams(seed_sequence(5))
    for name in ("access", "awareness", "use", "experience"):
        fresh[name].bit_generator.advance(3 * 1234)
        assert m.streams[name].bit_generator.state == fresh[name].bit_generator.state, name


def test_month_bytes_counts_each_added_tie_as_a_cache_line():
    flat = AdoptionModel(seed=1, n_agents=3000, create_agents=False, p_rewire=0.0)
    rewired = AdoptionModel(seed=1, n_agents=3000, create_agents=False, p_rewire=0.2)
    ring = rewired.adjacency.ring
    assert kernel.month_bytes(rewired) - kernel.month_bytes(flat) == (
        len(ring.add_cols) * (4 + kernel.CACHE_LINE) + len(ring.rem_cols) * 4)


def test_ctrl_c_while_the_kernels_load_is_held_back_then_delivered(monkeypatch):
    import os
    import signal

    import pytest

    monkeypatch.setattr(kernel, "LOADED", False)
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with kernel.deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("end of the block")  # not interrupted inside: numba would print and lose it there
    assert reached == ["end of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
