"""The fused kernel's own promises: its random numbers are numpy's, and it keeps the streams' positions."""

import math

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


def test_the_bounds_that_spare_exp_never_hide_an_event():
    """A draw skipped as at or above b dt / (1 - z) is never below the hazard b exp(z) dt (rounding included)."""
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.uniform(-30.0, 1.0, 200_000), np.linspace(-1e-6, 1e-6, 2001), [0.0, -0.0, 0.999999]])
    b = rng.uniform(0.0, 2.0, z.size)
    dt = 1.0 / 12.0
    x = b * np.exp(z) * dt
    # the draws just at the skipping bound, and one float below the hazard
    for u in (b * dt * (1.0 + 1e-9) / (1.0 - z), np.nextafter(x, 0.0), x):
        skipped = (z < 1.0) & (u * (1.0 - z) >= b * dt * (1.0 + 1e-9))
        assert not (skipped & (u < x)).any()
    # and the bound is what spares the work: most draws of a small hazard are skipped
    u = rng.random(z.size)
    assert ((z < 1.0) & (u * (1.0 - z) >= b * dt * (1.0 + 1e-9))).mean() > 0.8


def test_the_floor_of_phi_is_below_phi_everywhere_on_its_grid():
    from scipy.special import ndtr

    a = np.concatenate([np.linspace(-9.0, 9.0, 400_001), kernel._PHI_LO + np.arange(129) / kernel._PHI_INV_STEP])
    g = (a - kernel._PHI_LO) * kernel._PHI_INV_STEP
    inside = g >= 0.0
    floor = kernel._PHI_FLOOR[np.minimum(g[inside], 128.0).astype(np.uint64)]
    phi = 0.5 * np.array([math.erfc(-v * kernel._SQRT1_2) for v in a[inside]])
    assert (floor <= phi).all()
    assert np.allclose(phi, ndtr(a[inside]), rtol=1e-12, atol=1e-15)
    assert (phi - floor).max() < 0.05  # tight enough to spare erfc for most uses


_SLP_SCRIPT = r"""
import hashlib, json, sys
import numpy as np
from egov_abm.model import AdoptionModel, Intervention, Target, kernel

kernel.SLP = sys.argv[1] == "1"
STATE = dict(share_access_initial=0.6, share_aware_initial=0.5, share_adopters_initial=0.1)


def fingerprint(m):
    h = hashlib.sha1()
    for a in (m.user, m.ever_user, m.aware, m.access, m.skill, m.attitude, m.trust, m.satisfaction, m.last_use,
              m.last_assisted, m.last_outcome):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(m.outcomes_frame().to_csv().encode())
    return h.hexdigest()


out = {}
ivs = [Intervention(kind="mandate", start=2, end=9, dose=0.3, target=Target(age_bands=("60+",))),
       Intervention(kind="assisted", start=1, end=9, dose=1.0, capacity=300),
       Intervention(kind="service_quality", start=3, end=9, dose=0.1)]
for name, kw in {"ring": {}, "scale_free": {"network": "scale_free"}, "complete": {"network": "complete"},
                 "interventions": {"interventions": ivs}}.items():
    m = AdoptionModel(seed=7, n_agents=3000, create_agents=False, **STATE, **kw)
    m.run(13)
    out[name] = fingerprint(m)
kernel.THREADED_MIN, kernel.THREADS, kernel.CHUNK = 0, 2, 512  # two blocks on two threads
m = AdoptionModel(seed=7, n_agents=3000, create_agents=False, **STATE)
m.run(13)
out["two threads"] = fingerprint(m)
out["ymm"] = sum(f.inspect_asm(f.signatures[0]).count("ymm")
                 for f in (kernel.month_block, kernel.tally_block, kernel.snapshot))
print(json.dumps(out))
"""


def test_the_vectorised_kernels_give_the_same_results_to_the_last_bit(tmp_path):
    """LLVM's SLP vectoriser (on for the month's kernels only, :func:`kernel._vectorised`) changes no result."""
    import json
    import os
    import subprocess
    import sys

    runs = {}
    for slp in ("1", "0"):  # each compiles afresh, in a cache of its own
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / f"cache{slp}")}
        done = subprocess.run([sys.executable, "-c", _SLP_SCRIPT, slp], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[slp] = json.loads(done.stdout.strip().splitlines()[-1])
    on, off = runs["1"], runs["0"]
    assert on.pop("ymm") > off.pop("ymm")  # the switch reaches the compiler: more of the work is in vector registers
    assert on == off
    assert on["two threads"] == on["ring"]  # (as the threads promise)
    assert len({on[name] for name in ("ring", "scale_free", "complete", "interventions")}) == 4  # four runs
