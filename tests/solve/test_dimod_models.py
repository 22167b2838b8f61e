"""dimod BQM / CQM read into the package's problem classes: every state's energy, violation and
feasibility as dimod evaluates them; the optimum as dimod's brute-force solvers find it; clear
refusals outside the supported subset (issue 24, item 4)."""
import itertools

import numpy as np
import pytest

dimod = pytest.importorskip("dimod")

from quaton_fast.solve import (AOCSampler, ConstrainedProblem, Ising, MaxCut, QUBO,  # noqa: E402
                               brute_force, brute_force_constrained, bqm_to_problem, cqm_to_problem,
                               problem_to_bqm)

LABELS = ["a", ("b", 0), 3, "d e", 2.5, ("b", 1)]


def random_bqm(rng, labels, vartype):
    n = len(labels)
    quad = {(labels[i], labels[j]): float(rng.normal()) for i in range(n) for j in range(i + 1, n) if rng.random() < .7}
    return dimod.BinaryQuadraticModel({v: float(rng.normal()) for v in labels}, quad, float(rng.normal()), vartype)


def all_states(n, low):
    return np.array(list(itertools.product([low, 1], repeat=n)), dtype=float)


# ------------------------------------------------------------------------------------ BQM
@pytest.mark.parametrize("vartype,cls", [(dimod.SPIN, Ising), (dimod.BINARY, QUBO)])
@pytest.mark.parametrize("seed", range(3))
def test_bqm_energies_equal_dimods_on_every_state(vartype, cls, seed):
    bqm = random_bqm(np.random.default_rng(seed), LABELS, vartype)
    p = bqm_to_problem(bqm)
    labels = list(bqm.variables)
    assert isinstance(p, cls) and p.meta["labels"] == labels and set(labels) == set(LABELS)
    X = all_states(len(LABELS), 0 if vartype is dimod.BINARY else -1)
    np.testing.assert_allclose(p.energy(X), bqm.energies((X, labels)), rtol=1e-12, atol=1e-12)
    # and back: the model written from the problem has the same energies (labels kept)
    back = problem_to_bqm(p)
    assert back.vartype is vartype and list(back.variables) == labels
    np.testing.assert_allclose(back.energies((X, labels)), bqm.energies((X, labels)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("vartype", [dimod.SPIN, dimod.BINARY])
def test_bqm_brute_force_optimum_equals_exact_solvers(vartype):
    bqm = random_bqm(np.random.default_rng(9), [f"x{k}" for k in range(9)], vartype)
    state, energy = brute_force(bqm_to_problem(bqm))
    truth = dimod.ExactSolver().sample(bqm).first
    assert energy == pytest.approx(truth.energy, abs=1e-12)
    assert bqm.energy(dict(zip(bqm.variables, state))) == pytest.approx(truth.energy, abs=1e-12)


def test_maxcut_to_bqm_is_its_ising_energy():
    rng = np.random.default_rng(4)
    mc = MaxCut(6, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)], rng.integers(-2, 3, 7).astype(float))
    bqm = problem_to_bqm(mc)
    S = all_states(6, -1)
    np.testing.assert_allclose(bqm.energies((S, range(6))), mc.energy(S), atol=1e-12)


def test_bqm_refusals():
    with pytest.raises(TypeError, match="BinaryQuadraticModel"):
        bqm_to_problem({"a": 1.0})
    with pytest.raises(ValueError, match="at least one variable"):
        bqm_to_problem(dimod.BinaryQuadraticModel({}, {}, 1.0, dimod.SPIN))
    with pytest.raises(ValueError, match="labels"):
        problem_to_bqm(Ising(np.zeros((2, 2))), labels=["a", "a"])


# ------------------------------------------------------------------------------------ CQM
def random_cqm(rng, n=8, m_eq=2, m_le=2, m_ge=2, real=0):
    """Binary (and optionally real) variables, integer coefficients, offsets on both sides."""
    x = [dimod.Binary(f"x{k}") for k in range(n)]
    y = [dimod.Real(f"y{k}", lower_bound=-1.0, upper_bound=2.0) for k in range(real)]
    obj = sum(float(rng.integers(-5, 6)) * v for v in x) + 1.5
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < 0.4:
                obj += float(rng.integers(-4, 5)) * x[i] * x[j]
    for v in y:
        obj += float(rng.integers(-3, 4)) * v
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(obj)
    allv = x + y
    for k, sense in enumerate(["=="] * m_eq + ["<="] * m_le + [">="] * m_ge):
        support = rng.choice(len(allv), size=4, replace=False)
        lhs = sum(float(rng.integers(1, 4)) * allv[i] for i in support) + float(rng.integers(-1, 2))
        rhs = float(rng.integers(1, 5))
        comp = {"==": lhs == rhs, "<=": lhs <= rhs, ">=": lhs >= rhs}[sense]
        cqm.add_constraint(comp, label=f"c{k}{sense}")
    return cqm


def dimod_violations(cqm, sample):
    """(max |eq violation|, max positive ineq violation) as dimod computes them."""
    v = cqm.violations(sample, clip=True)
    eq = [abs(v[l]) for l, c in cqm.constraints.items() if c.sense is dimod.sym.Sense.Eq]
    ineq = [v[l] for l, c in cqm.constraints.items() if c.sense is not dimod.sym.Sense.Eq]
    return max(eq, default=0.0), max(ineq, default=0.0)


@pytest.mark.parametrize("seed", range(4))
def test_cqm_objective_violations_and_feasibility_equal_dimods(seed):
    rng = np.random.default_rng(seed)
    cqm = random_cqm(rng)
    p = cqm_to_problem(cqm)
    labels = p.meta["labels"]
    assert isinstance(p, ConstrainedProblem) and p.n_binary == 8 and (p.m_eq, p.m_ineq) == (2, 4)
    feasible_seen = 0
    for z in all_states(8, 0):
        sample = dict(zip(labels, z))
        assert p.objective(z) == pytest.approx(cqm.objective.energy(sample), abs=1e-12)
        v = p.violations(z)
        assert (v["eq"], v["ineq"]) == pytest.approx(dimod_violations(cqm, sample), abs=1e-12)
        assert p.is_feasible(z) == cqm.check_feasible(sample)
        feasible_seen += p.is_feasible(z)
    # the exact optimum agrees with dimod's exhaustive CQM solver
    exact = dimod.ExactCQMSolver().sample_cqm(cqm).filter(lambda d: d.is_feasible)
    z, obj = brute_force_constrained(p)
    if feasible_seen == 0:
        assert z is None and len(exact) == 0
    else:
        assert obj == pytest.approx(exact.first.energy, abs=1e-12)


def test_cqm_with_real_variables_is_continuous_with_its_bounds():
    rng = np.random.default_rng(21)
    cqm = random_cqm(rng, n=5, real=2)
    p = cqm_to_problem(cqm)
    labels = p.meta["labels"]
    cont = [labels.index("y0"), labels.index("y1")]
    assert not p.binary[cont].any() and np.all(p.lower[cont] == -1.0) and np.all(p.upper[cont] == 2.0)
    for _ in range(20):
        z = np.where(p.binary, rng.integers(0, 2, p.n), rng.uniform(-1, 2, p.n))
        sample = dict(zip(labels, z))
        assert p.objective(z) == pytest.approx(cqm.objective.energy(sample), abs=1e-12)
        assert (p.violations(z)["eq"], p.violations(z)["ineq"]) == pytest.approx(
            dimod_violations(cqm, sample), abs=1e-12)


def test_cqm_integer_self_loop_and_zero_one_integer():
    """An INTEGER variable with bounds [0, 1] is binary; a squared term of it lands on H's diagonal."""
    i = dimod.Integer("i", lower_bound=0, upper_bound=1)
    r = dimod.Real("r", lower_bound=-2, upper_bound=3)
    x = dimod.Binary("x")
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(3 * i * i - 2 * i * x + 0.5 * r + 4)
    cqm.add_constraint(i + x + r <= 2, label="cap")
    p = cqm_to_problem(cqm)
    assert [bool(p.binary[p.meta["labels"].index(v)]) for v in "ixr"] == [True, True, False]
    for zi, zx, zr in itertools.product([0, 1], [0, 1], [-2.0, 0.5, 3.0]):
        sample = {"i": zi, "x": zx, "r": zr}
        z = np.array([sample[v] for v in p.meta["labels"]], float)
        assert p.objective(z) == pytest.approx(cqm.objective.energy(sample), abs=1e-12)
        assert p.is_feasible(z) == cqm.check_feasible(sample)


def test_cqm_outside_the_subset_is_refused_by_name():
    def cqm_with(objective=None, constraint=None, **kw):
        c = dimod.ConstrainedQuadraticModel()
        c.set_objective(objective if objective is not None else dimod.Binary("a"))
        if constraint is not None:
            c.add_constraint(constraint, label="row", **kw)
        return c
    a, b = dimod.Binary("a"), dimod.Binary("b")
    with pytest.raises(ValueError, match=r"spin_to_binary.*SPIN variable 's'"):
        cqm_to_problem(cqm_with(dimod.Spin("s") + a))
    with pytest.raises(ValueError, match="INTEGER variable 'k' with bounds"):
        cqm_to_problem(cqm_with(a, dimod.Integer("k", upper_bound=5) + a <= 3))
    with pytest.raises(ValueError, match="quadratic constraint 'row'"):
        cqm_to_problem(cqm_with(a, a * b + a <= 1))
    with pytest.raises(ValueError, match="soft constraint 'row'"):
        cqm_to_problem(cqm_with(a, a + b <= 1, weight=2.0))
    with pytest.raises(TypeError, match="ConstrainedQuadraticModel"):
        cqm_to_problem(dimod.BinaryQuadraticModel({"a": 1}, {}, 0, dimod.BINARY))
    with pytest.raises(ValueError, match="at least one variable"):
        cqm_to_problem(dimod.ConstrainedQuadraticModel())


def test_sample_cqm_reaches_the_exact_feasible_optimum():
    """One-hot rows (assignment) and a capacity row: the AOC sampler's best feasible read is the
    optimum of dimod's exhaustive CQM solver; dimod's own fields say it is feasible."""
    rng = np.random.default_rng(2)
    x = {(i, k): dimod.Binary(f"x{i}_{k}") for i in range(3) for k in range(3)}
    cqm = dimod.ConstrainedQuadraticModel()
    obj = sum(float(rng.integers(-5, 6)) * v for v in x.values())
    keys = list(x)
    for s in range(len(keys)):
        for t in range(s + 1, len(keys)):
            if rng.random() < 0.3:
                obj += float(rng.integers(-3, 4)) * x[keys[s]] * x[keys[t]]
    cqm.set_objective(obj)
    for i in range(3):
        cqm.add_constraint(sum(x[i, k] for k in range(3)) == 1, label=f"one-hot {i}")
    cqm.add_constraint(sum(float(k + 1) * x[i, k] for i in range(3) for k in range(3)) <= 6, label="capacity")
    truth = dimod.ExactCQMSolver().sample_cqm(cqm).filter(lambda d: d.is_feasible).first.energy
    ss = AOCSampler().sample_cqm(cqm, num_reads=2, seed=0, max_iterations=2000)
    feas = ss.filter(lambda d: d.is_feasible)
    assert len(feas) >= 1 and feas.first.energy == pytest.approx(truth, abs=1e-9)
    dimod.testing.assert_sampleset_energies_cqm(ss, cqm)
    assert len(ss.info["phase"]) == 2
