"""File readers: real G-set / SK instances, hand-written QPLIB files, and corrupt files."""
import itertools
from pathlib import Path

import numpy as np
import pytest

from quaton_fast.solve.models.problems import QUBO, QUMO, Ising, MaxCut, brute_force
from quaton_fast.solve.formats.readers import (gset_best_known, read_gset, read_qplib, read_rudy, read_sk,
                                       read_sk_ground_energies, write_gset, write_rudy)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
need_gset = pytest.mark.skipif(not (DATA / "gset" / "G1.txt").is_file(),
                               reason=f"G-set files not found under {DATA / 'gset'} (shared data absent)")
need_sk = pytest.mark.skipif(not (DATA / "sk" / "SK1_N10_ground_energies.npz").is_file(),
                             reason=f"SK files not found under {DATA / 'sk'} (shared data absent)")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------------- G-set
@need_gset
def test_g1_parses_and_cuts():
    g = read_gset(DATA / "gset" / "G1.txt")
    assert isinstance(g, MaxCut) and g.n == 800 and g.m == 19176
    assert g.edges.min() == 0 and g.edges.max() == 799
    assert set(np.unique(g.weights)) <= {-1.0, 1.0}
    ones = np.ones(800)
    assert g.cut_value(ones) == 0.0
    rng = np.random.default_rng(0)
    s = rng.choice([-1.0, 1.0], 800)
    # direct edge sum straight from the text file (independent of the reader)
    lines = (DATA / "gset" / "G1.txt").read_text().split("\n")[1:]
    direct = 0.0
    for line in lines:
        if line.strip():
            i, j, w = line.split()
            direct += float(w) * (1 - s[int(i) - 1] * s[int(j) - 1]) / 2
    assert g.cut_value(s) == pytest.approx(direct, abs=1e-9)
    ising = g.to_ising()
    assert g.cut_from_energy(ising.energy(s)) == pytest.approx(direct, abs=1e-9)
    assert g.to_qumo().energy(s) == pytest.approx(ising.energy(s), abs=1e-9)


@need_gset
def test_gset_reference_csv():
    ref = gset_best_known(DATA / "gset" / "reference.csv")
    assert ref["G1"] == 11624 and ref["G2"] == 11620


@need_gset
def test_gset_write_roundtrip(tmp_path):
    g = read_gset(DATA / "gset" / "G2.txt")
    out = tmp_path / "sub" / "G2_copy.txt"
    write_gset(g, out)
    assert out.read_text().split("\n")[0] == "800 19176"
    h = read_gset(out)
    assert np.array_equal(h.edges, g.edges) and np.array_equal(h.weights, g.weights)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_rudy_float_weights_and_writer(tmp_path):
    p = write(tmp_path, "r.rud", "3 2\n1 2 0.25\n2 3 -1.5e-1\n\n\n")
    g = read_rudy(p)
    assert g.n == 3 and g.edges.tolist() == [[0, 1], [1, 2]] and g.weights.tolist() == [0.25, -0.15]
    write_rudy(g, tmp_path / "w.rud")
    h = read_rudy(tmp_path / "w.rud")
    assert np.array_equal(h.weights, g.weights) and np.array_equal(h.edges, g.edges)


@pytest.mark.parametrize("text, line, what", [
    ("4 3\n1 2 1\n2 3 1\n", 4, "truncated"),                     # truncated edge list
    ("4 2\n1 2 1\n2 3 1\n3 4 1\n", 4, "more lines"),             # wrong header count (too many)
    ("4 2\n1 2 1\n2 5 1\n", 3, "out of range"),                  # index out of range
    ("4 2\n1 2 1\n0 3 1\n", 3, "out of range"),                  # 0-based index
    ("4 2\n1 2 1\nx y\n", 3, "expected 3 fields"),               # non-numeric / missing token
    ("4 2\n1 2 1\n2 3 one\n", 3, "expected 3 fields"),           # non-numeric weight
    ("4 2\n1 2 nan\n2 3 1\n", 2, "expected 3 fields"),           # NaN weight
    ("4 2\n1 2 1\n3 3 1\n", 3, "self-loop"),
    ("4 2\n1 2 1\n\n2 3 1\n", 3, "expected 3 fields"),           # blank line inside
    ("four 2\n1 2 1\n2 3 1\n", 1, "header"),
    ("4\n", 1, "header"),
    ("", 1, "empty"),
])
@pytest.mark.parametrize("reader", [read_gset, read_rudy])
def test_bad_edge_lists_name_file_and_line(tmp_path, reader, text, line, what):
    p = write(tmp_path, "bad_graph.txt", text)
    with pytest.raises(ValueError) as ei:
        reader(p)
    msg = str(ei.value)
    assert f"{reader.__name__}(): bad_graph.txt line {line}:" in msg
    assert what in msg


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=r"read_gset\(\): file .*nope\.txt"):
        read_gset("/nonexistent/nope.txt")
    with pytest.raises(TypeError, match=r"read_sk\(\): argument 'path'"):
        read_sk(3)


# -------------------------------------------------------------------------------------- SK
@need_sk
def test_sk_n10_brute_force_matches_ground_energies():
    ge = read_sk_ground_energies(DATA / "sk" / "SK1_N10_ground_energies.npz")
    assert ge.shape == (10,)
    for k in range(10):
        ising = read_sk(DATA / "sk" / f"SK1_N10_{k}.npz")
        assert isinstance(ising, Ising) and ising.n == 10
        s, e = brute_force(ising)
        assert e == ge[k]
        assert 0.5 * s @ ising.J @ s == ge[k]


@need_sk
def test_sk_n20_brute_force_two_instances():
    ge = read_sk_ground_energies(DATA / "sk" / "SK1_N20_ground_energies.npz")
    for k in (0, 7):
        p = DATA / "sk" / f"SK1_N20_{k}.npz"
        if not p.is_file():
            pytest.skip(f"{p} absent")
        assert brute_force(read_sk(p))[1] == ge[k]


def _save_npy(tmp_path, name, J):
    p = tmp_path / name
    with open(p, "wb") as f:                 # .npy data under an .npz name, like the real files
        np.save(f, J)
    return p


@pytest.mark.parametrize("J, what", [
    (np.array([[0.0, 1.0], [-1.0, 0.0]]), "not symmetric"),
    (np.zeros((2, 3)), "square"),
    (np.zeros(4), "square"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "non-finite"),
    (np.array([[1.0, 1.0], [1.0, 0.0]]), "diagonal"),
    (np.array([["a", "b"], ["c", "d"]]), "real"),
])
def test_bad_sk_files(tmp_path, J, what):
    p = _save_npy(tmp_path, "SK1_N2_0.npz", J)
    with pytest.raises(ValueError, match=rf"read_sk\(\): SK1_N2_0.npz: .*{what}"):
        read_sk(p)


def test_sk_npz_archive_and_garbage(tmp_path):
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.savez(tmp_path / "a.npz", J=J, other=np.zeros(3))
    assert np.array_equal(read_sk(tmp_path / "a.npz").J, J)
    np.savez(tmp_path / "b.npz", x=J, y=J)
    with pytest.raises(ValueError, match=r"read_sk\(\): b.npz: expected one array"):
        read_sk(tmp_path / "b.npz")
    (tmp_path / "c.npz").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"read_sk\(\): c.npz: not a readable"):
        read_sk(tmp_path / "c.npz")
    np.savez(tmp_path / "g.npz", np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match=r"read_sk_ground_energies\(\): g.npz: non-finite"):
        read_sk_ground_energies(tmp_path / "g.npz")


# ----------------------------------------------------------------------------------- QPLIB
QBN = """QTEST_QBN   # name
QBN  # type
minimize
3 # variables
4 # quadratic terms (lower triangle of H, objective 1/2 x^T H x)
1 1 2.0
2 1 -3.0
3 2 4.0
3 3 -6.0
0.5 # default linear coefficient
1 # non-default linear coefficients
2 -1.0
7.0 # constant
1.0E+30 # infinity
0 # default starting x
0
0 # default dual z
0
0 # variable names
"""


def qplib_objective(z, H_lower, g, f):
    H = np.zeros((len(g), len(g)))
    for (i, j), v in H_lower.items():
        H[i, j] += v
        if i != j:
            H[j, i] += v
    return 0.5 * z @ H @ z + g @ z + f


def test_qplib_qbn_half_convention(tmp_path):
    q = read_qplib(write(tmp_path, "t.qplib", QBN))
    assert isinstance(q, QUBO) and q.meta["sense"] == "minimize" and q.meta["name"] == "QTEST_QBN"
    Hl = {(0, 0): 2.0, (1, 0): -3.0, (2, 1): 4.0, (2, 2): -6.0}
    g = np.array([0.5, -1.0, 0.5])
    for x in itertools.product([0.0, 1.0], repeat=3):
        x = np.array(x)
        assert q.energy(x) == pytest.approx(qplib_objective(x, Hl, g, 7.0), abs=1e-12)
    # explicit: x = (1,1,1): 1/2*(2 - 6) + (-3 + 4) + (0.5 - 1 + 0.5) + 7 = -2 + 1 + 0 + 7 = 6
    assert q.energy(np.ones(3)) == pytest.approx(6.0)
    # x = (1,0,0): 1/2*2 + 0.5 + 7 = 8.5 (a diagonal entry counts HALF)
    assert q.energy(np.array([1.0, 0, 0])) == pytest.approx(8.5)
    # x = (1,1,0): 1 + (-3) + (0.5 - 1) + 7 = 4.5 (an off-diagonal entry counts ONCE)
    assert q.energy(np.array([1.0, 1, 0])) == pytest.approx(4.5)
    xb, eb = brute_force(q)
    best = min(qplib_objective(np.array(x), Hl, g, 7.0) for x in itertools.product([0.0, 1.0], repeat=3))
    assert eb == pytest.approx(best)


def test_qplib_maximize_is_negated(tmp_path):
    q = read_qplib(write(tmp_path, "m.qplib", QBN.replace("minimize", "maximize")))
    assert q.meta["sense"] == "maximize"
    Hl = {(0, 0): 2.0, (1, 0): -3.0, (2, 1): 4.0, (2, 2): -6.0}
    g = np.array([0.5, -1.0, 0.5])
    for x in itertools.product([0.0, 1.0], repeat=3):
        x = np.array(x)
        assert -q.energy(x) == pytest.approx(qplib_objective(x, Hl, g, 7.0), abs=1e-12)


QMB = """QTEST_QMB
QMB
minimize
3
3
1 1 4.0
2 1 -2.0
3 3 1.0
0
2
1 1.0
3 -0.5
0.25
1.0E+30
-1 # default lower bound
1
1 0
2 # default upper bound
1
1 1
0 # default type: continuous
1
1 2 # variable 1 binary
0
0
0
0
0
"""


def test_qplib_mixed_box(tmp_path):
    q = read_qplib(write(tmp_path, "mixed.qplib", QMB))
    assert isinstance(q, QUMO)
    assert q.continuous.tolist() == [False, True, True]
    Hl = {(0, 0): 4.0, (1, 0): -2.0, (2, 2): 1.0}
    g = np.array([1.0, 0.0, -0.5])
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, 3))
    X[:, 0] = np.sign(X[:, 0])
    Z = q.to_original(X)
    assert set(Z[:, 0]) <= {0.0, 1.0}
    assert np.all((Z[:, 1:] >= -1) & (Z[:, 1:] <= 2))
    ref = np.array([qplib_objective(z, Hl, g, 0.25) for z in Z])
    assert np.abs(q.energy(X) - ref).max() < 1e-12


@pytest.mark.parametrize("code", ["QCQ", "LBC", "QBD", "QMQ"])
def test_qplib_quadratic_constraints_not_implemented(tmp_path, code):
    with pytest.raises(NotImplementedError, match=rf"read_qplib\(\): c.qplib: problem class {code}"):
        read_qplib(write(tmp_path, "c.qplib", QBN.replace("QBN  #", f"{code} #")))


def test_qplib_integer_and_unbounded_not_implemented(tmp_path):
    text = QMB.replace("QMB\n", "QGB\n").replace("1 2 # variable 1 binary", "1 1")
    text = text.replace("1\n1 1\n0 # default type", "1\n1 5\n0 # default type")   # x1 in [0, 5], integer
    with pytest.raises(NotImplementedError, match="general integer"):
        read_qplib(write(tmp_path, "i.qplib", text))
    text = QMB.replace("2 # default upper bound", "1e30 # default upper bound")
    with pytest.raises(NotImplementedError, match="unbounded"):
        read_qplib(write(tmp_path, "u.qplib", text))


@pytest.mark.parametrize("mutate, line, what", [
    (lambda t: t.replace("2 1 -3.0", "2 x -3.0"), 7, "expected 'i j value'"),
    (lambda t: t.replace("3 2 4.0", "3 4 4.0"), 8, "out of range"),
    (lambda t: t.replace("QBN  #", "XYZ #"), 2, "problem type code"),
    (lambda t: t.replace("minimize", "minimum"), 3, "'minimize' or 'maximize'"),
    (lambda t: t.replace("3 # variables", "three"), 4, "number of variables"),
    (lambda t: t.replace("7.0 # constant", "nan"), 13, "objective constant"),
    (lambda t: "\n".join(t.split("\n")[:8]), 9, "truncated"),
])
def test_qplib_bad_files_name_line(tmp_path, mutate, line, what):
    p = write(tmp_path, "bad.qplib", mutate(QBN))
    with pytest.raises(ValueError) as ei:
        read_qplib(p)
    assert f"read_qplib(): bad.qplib line {line}:" in str(ei.value)
    assert what in str(ei.value)


def test_gset_best_known_bad(tmp_path):
    p = write(tmp_path, "ref.csv", "instance,nodes,edges,best_known_cut\nG1,800,19176,abc\n")
    with pytest.raises(ValueError, match=r"gset_best_known\(\): ref.csv line 2: best_known_cut"):
        gset_best_known(p)


# ------------------------------------------------------------- QPLIB with linear constraints
from quaton_fast.solve.models.constraints import ConstrainedProblem  # noqa: E402
from quaton_fast.solve.formats.readers import read_gams, read_instance, write_qplib  # noqa: E402

QBL = """QTEST_QBL
QBL
maximize
3 # n
3 # m
2 # quadratic terms
2 1 -1.0
3 3 4.0
1.0 # default linear coefficient
0
0.5 # constant
5 # linear terms in all constraints
1 1 1
1 2 1
2 2 2
2 3 -1
3 1 1
1e30 # infinity
-1e30 # default lhs
2
2 -1
3 1
1.0 # default rhs
0
0 # x0
0
0 # y0
0
0 # z0
0
0 # variable names
0 # constraint names
"""
# rows: x1 + x2 <= 1;  -1 <= 2 x2 - x3 <= 1;  x1 = 1 (lhs 1 = rhs 1)
QBL_GMS = """* hand-written twin of QBL
$offlisting
Variables  objvar,x1,x2
          ,x3;
Binary Variables  x1,x2,x3;
Equations  e1,e2,e3,e4,e5;
e1.. x1 + x2 =L= 1;
e2.. 2*x2 - x3 =G= -1;
e3.. 2*x2 - x3 =L= 1;
e4.. x1 =E= 1;
e5.. (-x1*x2) + 2*sqr(x3) + x1 + x2
     + x3 + 0.5 - objvar =E= 0;
Model m / all /;
m.limrow=0; m.limcol=0;
$if NOT '%gams.u1%' == '' $include '%gams.u1%'
$if not set MIQCP $set MIQCP MIQCP
Solve m using %MIQCP% maximizing objvar;
"""


def _qbl_truth(z):
    obj = -z[0] * z[1] + 2 * z[2] ** 2 + z.sum() + 0.5
    feas = z[0] + z[1] <= 1 and -1 <= 2 * z[1] - z[2] <= 1 and z[0] == 1
    return obj, feas


def test_qplib_linear_constraints(tmp_path):
    q = read_qplib(write(tmp_path, "c.qplib", QBL))
    assert isinstance(q, ConstrainedProblem) and q.sense == "maximize" and q.m_eq == 1 and q.m_ineq == 3
    for z in itertools.product([0.0, 1.0], repeat=3):
        z = np.array(z)
        obj, feas = _qbl_truth(z)
        assert q.objective(z) == pytest.approx(obj, abs=1e-12)
        assert q.is_feasible(z) == feas
        assert (q.max_violation(z) == 0) == feas


def test_gams_twin_reads_like_qplib_and_round_trips(tmp_path):
    g = read_gams(write(tmp_path, "c.gms", QBL_GMS))
    q = read_qplib(write(tmp_path, "c.qplib", QBL))
    assert g.names == ["x1", "x2", "x3"] and g.sense == "maximize"
    Z = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    assert np.allclose(g.objective(Z), q.objective(Z), atol=1e-12)
    assert [g.is_feasible(z) for z in Z] == [q.is_feasible(z) for z in Z]
    write_qplib(g, tmp_path / "w.qplib")
    r = read_qplib(tmp_path / "w.qplib", as_constrained=True)
    for a in ("H", "A_eq", "A_ineq"):
        assert (getattr(r, a) != getattr(g, a)).nnz == 0, a
    for a in ("g", "b_eq", "b_ineq", "lower", "upper", "binary"):
        assert np.array_equal(getattr(r, a), getattr(g, a)), a
    assert r.f == g.f and r.sense == g.sense and r.names == g.names
    assert isinstance(read_instance(tmp_path / "w.qplib"), ConstrainedProblem)


def test_write_qplib_mixed_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    n = 5
    H = rng.normal(size=(n, n))
    H = H + H.T
    b = np.array([True, False, True, False, True])
    p = ConstrainedProblem(H, rng.normal(size=n), 1.25, "minimize", np.array([0, -1.5, 1, 0.25, 0]),
                           np.array([1, 2.0, 1, 0.75, 1]), b, rng.normal(size=(2, n)), [0.5, -0.25],
                           rng.normal(size=(3, n)), [1.0, 2.0, 3.0])
    write_qplib(p, tmp_path / "m.qplib")
    r = read_qplib(tmp_path / "m.qplib", as_constrained=True)
    assert r.meta["type"] == "QML"
    Z = rng.uniform(-2, 2, size=(10, n))
    assert np.array_equal(r.objective(Z), p.objective(Z))
    assert np.array_equal(r.binary, b) and np.array_equal(r.lower, p.lower) and np.array_equal(r.upper, p.upper)
    assert np.array_equal(r.A_eq.toarray(), p.A_eq.toarray()) and np.array_equal(r.b_ineq, p.b_ineq)


# rel03: counts that do not match what follows, extra tokens -> file:line errors (never a shifted parse)
TINY = """TINY_QBN
QBN
minimize
3          # number of variables
3          # number of quadratic terms
1 1 2.0
2 1 -1.0
3 2 4.0
0          # default value for linear coefficients
1          # number of non-default linear coefficients
2 -3.0
1.5        # objective constant
1.0E+30    # infinity
0
0
0
0
0
"""


@pytest.mark.parametrize("text, line", [
    (TINY.replace("3          # number of quadratic", "2          # number of quadratic"), 8),
    (TINY.replace("3          # number of quadratic", "4          # number of quadratic"), 9),
    (TINY.replace("1          # number of non-default", "0          # number of non-default"), 11),
    (TINY.replace("1          # number of non-default", "2          # number of non-default"), 12),
    (TINY.replace("3          # number of variables", "3 7        # number of variables"), 4),
    (TINY.replace("1 1 2.0", "1 1 2.0 5"), 6),
    (TINY.replace("1.5        # objective", "1.5 2      # objective"), 12),
    (TINY + "0\n", 19),
    (QBL.replace("5 # linear terms", "4 # linear terms"), 17),
    (QBL.replace("3 1 1\n1e30", "3 4 1\n1e30"), 17),
    (QBL.replace("0 # constraint names", "1 # constraint names"), 33),
])
def test_qplib_strict_counts_and_tokens(tmp_path, text, line):
    p = write(tmp_path, "s.qplib", text)
    with pytest.raises(ValueError) as ei:
        read_qplib(p)
    assert f"read_qplib(): s.qplib line {line}:" in str(ei.value)


def test_qplib_tiny_as_written_is_exact(tmp_path):
    q = read_qplib(write(tmp_path, "t.qplib", TINY))
    H = np.array([[2.0, -1, 0], [-1, 0, 4], [0, 4, 0]])
    for z in itertools.product([0.0, 1.0], repeat=3):
        z = np.array(z)
        assert q.energy(z) == pytest.approx(0.5 * z @ H @ z - 3 * z[1] + 1.5, abs=1e-12)


# ------------------------------------------------------------------------- GAMS: bad files
@pytest.mark.parametrize("mutate, line, what, exc", [
    (lambda t: t.replace("Model m", "option optcr=0;\nModel m"), 13, "outside the supported GAMS subset", ValueError),
    (lambda t: t.replace("Binary Variables  x1,x2,x3;", "Integer Variables  x1,x2,x3;"), 5, "integer variables",
     NotImplementedError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;", "e1.. x1*x2*x3 =L= 1;"), 7, "degree > 2", ValueError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;", "e1.. x1*x2 =L= 1;"), 7, "quadratic constraint", NotImplementedError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;", "e1.. x1 + y9 =L= 1;"), 7, "undeclared variable", ValueError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;", "e1.. x1/2 =L= 1;"), 7, "'/'", ValueError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;", "e1.. exp(x1) =L= 1;"), 7, "function exp", ValueError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;", "e1.. x1 + x2 =N= 1;"), 7, "=N=", ValueError),
    (lambda t: t.replace("e1.. x1 + x2 =L= 1;\n", ""), 6, "declared but never defined", ValueError),
    (lambda t: t.replace("$offlisting", "$include other.gms"), 2, "dollar-control", ValueError),
    (lambda t: t.replace("Binary Variables  x1,x2,x3;", "Binary Variables  x1,x2;\nPositive Variables x3;"), 3,
     "finite bounds", NotImplementedError),
    (lambda t: t.replace("Binary Variables  x1,x2,x3;", "Binary Variables  x1,x2,x3;\nx1.up = 2;"), 6,
     "binary variable 'x1'", ValueError),
])
def test_gams_refuses_outside_subset_with_file_line(tmp_path, mutate, line, what, exc):
    p = write(tmp_path, "bad.gms", mutate(QBL_GMS))
    with pytest.raises(exc) as ei:
        read_gams(p)
    assert f"read_gams(): bad.gms line {line}:" in str(ei.value), str(ei.value)
    assert what in str(ei.value)


def test_gams_bounds_and_positive_variables(tmp_path):
    text = QBL_GMS.replace("Binary Variables  x1,x2,x3;", "Binary Variables  x1,x2;\nPositive Variables x3;\n"
                           "x3.up = 2.5;\nx3.l = 1;")
    p = read_gams(write(tmp_path, "pos.gms", text))
    assert p.binary.tolist() == [True, True, False] and p.lower[2] == 0 and p.upper[2] == 2.5
    p = read_gams(write(tmp_path, "fx.gms", text.replace("x3.up = 2.5;", "x3.fx = 0.75;")))
    assert p.lower[2] == p.upper[2] == 0.75
