"""AOCSampler as a dimod sampler, judged by dimod itself: its API assert, its sampler conformance
tests (dimod.testing.load_sampler_bqm_tests), its energy re-evaluation of every returned sample, and
its brute-force ExactSolver as the truth of the ground state (issue 24, item 4)."""
import unittest
import warnings

import numpy as np
import pytest

dimod = pytest.importorskip("dimod")
import dimod.testing  # noqa: E402

from quaton_fast.solve import AOCSampler  # noqa: E402

# small instances: a read is 20 restarts of 200 steps of 64 replicas by default; 5 restarts suffice
# for n <= 12 (every ground-state test below compares with dimod.ExactSolver)
FAST = {"max_iterations": 1000}


def random_bqm(rng, n, vartype, labels=None, density=0.6, integer=False):
    labels = list(range(n)) if labels is None else labels
    draw = (lambda: float(rng.integers(-4, 5))) if integer else (lambda: float(rng.normal()))
    lin = {v: draw() for v in labels}
    quad = {(labels[i], labels[j]): draw() for i in range(n) for j in range(i + 1, n) if rng.random() < density}
    return dimod.BinaryQuadraticModel(lin, quad, draw(), vartype)


MIXED_LABELS = ["a", ("t", 1), 7, "x y", frozenset({1}), 2.5, ("t", 2), "z", -3, "long label"]


# ------------------------------------------------------------------------ dimod's own checks
def test_dimod_sampler_api():
    dimod.testing.assert_sampler_api(AOCSampler())
    s = AOCSampler()
    assert set(s.parameters) >= {"num_reads", "seed", "time_limit", "device"}
    assert s.parameters["device"] == ["devices"] and "cpu" in s.properties["devices"]


@dimod.testing.load_sampler_bqm_tests(AOCSampler)
class TestDimodConformance(unittest.TestCase):
    """dimod's generated tests: empty, one-variable, path models (tuple labels), every BQM class,
    sample / sample_ising / sample_qubo, energies re-evaluated by dimod."""


# ------------------------------------------------------------------------ energies, labels, vartypes
@pytest.mark.parametrize("vartype", [dimod.SPIN, dimod.BINARY])
def test_energies_equal_dimods_with_mixed_labels_and_offset(vartype):
    rng = np.random.default_rng(3)
    bqm = random_bqm(rng, len(MIXED_LABELS), vartype, MIXED_LABELS)
    bqm.offset = 12.75
    ss = AOCSampler().sample(bqm, num_reads=4, seed=5, **FAST)
    assert ss.vartype is vartype and set(ss.variables) == set(MIXED_LABELS) and len(ss) == 4
    dimod.testing.assert_sampleset_energies(ss, bqm)
    np.testing.assert_allclose(ss.record.energy, bqm.energies(ss), rtol=1e-12, atol=1e-12)
    low = 0 if vartype is dimod.BINARY else -1
    assert set(np.unique(ss.record.sample)) <= {low, 1}


@pytest.mark.parametrize("vartype", [dimod.SPIN, dimod.BINARY])
def test_linear_only_and_single_variable(vartype):
    low = 0 if vartype is dimod.BINARY else -1
    bqm = dimod.BinaryQuadraticModel({"p": 2.0, "q": -1.5, "r": 0.0}, {}, -0.5, vartype)
    ss = AOCSampler().sample(bqm, num_reads=2, seed=0, **FAST)
    for sample in ss.samples():
        assert sample["p"] == low and sample["q"] == 1          # each variable alone at its minimum
    assert ss.first.energy == pytest.approx(bqm.energy({"p": low, "q": 1, "r": 1}), abs=1e-12)
    single = dimod.BinaryQuadraticModel({("only",): -3.0}, {}, 1.0, vartype)
    ss1 = AOCSampler().sample(single, seed=0, **FAST)
    assert ss1.first.sample == {("only",): 1} and ss1.first.energy == pytest.approx(-2.0)


@pytest.mark.parametrize("vartype", [dimod.SPIN, dimod.BINARY])
def test_empty_model_gives_num_reads_empty_samples_at_the_offset(vartype):
    ss = AOCSampler().sample(dimod.BinaryQuadraticModel({}, {}, 2.5, vartype), num_reads=3)
    assert len(ss) == 3 and len(ss.variables) == 0 and ss.vartype is vartype
    np.testing.assert_array_equal(ss.record.energy, [2.5, 2.5, 2.5])


# ------------------------------------------------------------------------ ground states (ExactSolver)
@pytest.mark.parametrize("vartype,n,seed", [(dimod.SPIN, 10, 0), (dimod.SPIN, 12, 1), (dimod.BINARY, 10, 2),
                                            (dimod.BINARY, 12, 3)])
def test_finds_the_exact_solvers_ground_state(vartype, n, seed):
    rng = np.random.default_rng(100 + seed)
    bqm = random_bqm(rng, n, vartype, labels=[f"v{k}" for k in range(n)])
    truth = dimod.ExactSolver().sample(bqm).first.energy
    ss = AOCSampler().sample(bqm, num_reads=3, seed=seed, **FAST)
    assert ss.first.energy == pytest.approx(truth, abs=1e-9)
    assert np.all(ss.record.energy >= truth - 1e-9)


def test_sample_ising_and_sample_qubo_find_the_ground_state():
    rng = np.random.default_rng(7)
    h = {k: float(rng.normal()) for k in "abcdefgh"}
    J = {(u, v): float(rng.normal()) for u in "abcdefgh" for v in "abcdefgh" if u < v and rng.random() < 0.5}
    ss = AOCSampler().sample_ising(h, J, num_reads=2, seed=1, **FAST)
    assert ss.first.energy == pytest.approx(dimod.ExactSolver().sample_ising(h, J).first.energy, abs=1e-9)
    Q = {(u, v): float(rng.normal()) for u in "abcdefgh" for v in "abcdefgh" if u <= v and rng.random() < 0.5}
    ss = AOCSampler().sample_qubo(Q, num_reads=2, seed=1, **FAST)
    assert ss.vartype is dimod.BINARY
    assert ss.first.energy == pytest.approx(dimod.ExactSolver().sample_qubo(Q).first.energy, abs=1e-9)


# ------------------------------------------------------------------------ seeds, budget, arguments
def test_seeded_runs_are_reproducible_and_reads_independent():
    bqm = random_bqm(np.random.default_rng(11), 40, dimod.SPIN, density=0.2)
    s = AOCSampler()
    a = s.sample(bqm, num_reads=3, seed=42, max_iterations=400)
    b = s.sample(bqm, num_reads=3, seed=42, max_iterations=400)
    np.testing.assert_array_equal(a.record.sample, b.record.sample)
    np.testing.assert_array_equal(a.record.energy, b.record.energy)
    assert a.info["seed"] == 42 and len(set(a.info["read_seeds"])) == 3
    c = s.sample(bqm, num_reads=3, seed=43, max_iterations=400)
    assert c.info["read_seeds"] != a.info["read_seeds"]
    fresh = s.sample(bqm, max_iterations=200)                 # seed=None: a drawn seed, recorded
    assert isinstance(fresh.info["seed"], int) and fresh.info["seed"] >= 0


def test_time_limit_is_the_total_budget_split_over_reads():
    bqm = random_bqm(np.random.default_rng(12), 60, dimod.SPIN, density=0.3)
    ss = AOCSampler().sample(bqm, num_reads=2, seed=0, time_limit=0.4)
    assert len(ss) == 2 and all(r >= 1 for r in ss.info["restarts"])
    assert ss.info["wall_time"] < 0.4 + 5.0        # a read overruns its share by at most one restart
    dimod.testing.assert_sampleset_energies(ss, bqm)


@pytest.mark.parametrize("kwargs,arg", [({"num_reads": 0}, "num_reads"), ({"num_reads": 1.5}, "num_reads"),
                                        ({"seed": -1}, "seed"), ({"time_limit": 0}, "time_limit"),
                                        ({"time_limit": float("nan")}, "time_limit"),
                                        ({"max_iterations": 0}, "max_iterations"), ({"replicas": 0}, "replicas"),
                                        ({"device": "nonsense"}, "device")])
def test_bad_parameters_are_refused_by_name(kwargs, arg):
    bqm = dimod.BinaryQuadraticModel({"a": 1.0}, {}, 0.0, dimod.SPIN)
    with pytest.raises((ValueError, TypeError), match=arg):
        AOCSampler().sample(bqm, **kwargs)


def test_unknown_keyword_warns_like_every_dimod_sampler():
    bqm = dimod.BinaryQuadraticModel({"a": 1.0}, {}, 0.0, dimod.SPIN)
    with pytest.warns(dimod.exceptions.SamplerUnknownArgWarning, match="num_sweeps"):
        ss = AOCSampler().sample(bqm, num_sweeps=10, **FAST)
    assert ss.first.sample == {"a": -1}


def test_large_binary_model_goes_through_the_sparse_qumo():
    """Above DENSE_LIMIT a BINARY model is read as a sparse QUMO; energies stay dimod's."""
    from quaton_fast.solve.models.problems import DENSE_LIMIT
    n = DENSE_LIMIT + 1
    rng = np.random.default_rng(5)
    i = rng.integers(0, n, 3 * n)
    j = rng.integers(0, n, 3 * n)
    keep = i != j
    bqm = dimod.BinaryQuadraticModel(rng.integers(-2, 3, n).astype(float),
                                     {(int(a), int(b)): float(w) for a, b, w in
                                      zip(i[keep], j[keep], rng.integers(-3, 4, keep.sum()))}, 1.0, dimod.BINARY)
    ss = AOCSampler().sample(bqm, seed=0, max_iterations=50, replicas=4)
    np.testing.assert_allclose(ss.record.energy, bqm.energies(ss), rtol=1e-12, atol=1e-9)


@pytest.mark.cuda
def test_gpu_reads_find_the_exact_solvers_ground_state():
    """device='cuda': the torch backend's replicas on the GPU, same SampleSet contract."""
    bqm = random_bqm(np.random.default_rng(31), 12, dimod.SPIN, labels=[f"g{k}" for k in range(12)])
    truth = dimod.ExactSolver().sample(bqm).first.energy
    ss = AOCSampler().sample(bqm, num_reads=2, seed=0, device="cuda", max_iterations=1000)
    assert ss.info["device"].startswith("cuda") and ss.info["backend"] == "torch"
    assert ss.first.energy == pytest.approx(truth, abs=1e-9)
    dimod.testing.assert_sampleset_energies(ss, bqm)
