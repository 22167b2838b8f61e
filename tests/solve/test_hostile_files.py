"""Hostile instance files (issue 26): declared sizes checked before allocating, tokens exactly as
strict as the formats, GAMS bounds in program order, deep nesting refused with file and line."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import numpy.lib.format as npformat
import pytest

from quaton_fast.solve import read_gams, read_gset, read_qplib, read_sk
from quaton_fast.solve.formats._files import MAX_DECLARED, strict_float, strict_int


@pytest.mark.parametrize("tok", ["1_0", "\u0663", "\uff11", " 1", "1.0", "0x1", "", "+", "1e3"])
def test_strict_int_refuses_what_int_accepts(tok):
    assert strict_int(tok) is None


@pytest.mark.parametrize("tok", ["1_000", "nan", "inf", "-Infinity", "\u0663.5", "1e999", "1.2.3", "e5", "0x10"])
def test_strict_float_refuses_non_decimals(tok):
    assert strict_float(tok) is None


@pytest.mark.parametrize("tok, v", [("-3", -3), ("+007", 7), ("12", 12)])
def test_strict_int_accepts_plain_integers(tok, v):
    assert strict_int(tok) == v


@pytest.mark.parametrize("tok, v", [("1", 1.0), ("-.5", -0.5), ("2.", 2.0), ("1.5E-3", 1.5e-3), ("+4e2", 400.0)])
def test_strict_float_accepts_plain_decimals(tok, v):
    assert strict_float(tok) == v
    assert strict_float("inf", inf_ok=True) == float("inf") and strict_float("-1e999", inf_ok=True) == -float("inf")


@pytest.mark.parametrize("body, line", [("1_0 2 1\n", 2), ("1 \u0663 1\n", 2), ("1 2 1_000\n", 2),
                                        ("1 2 nan\n", 2), ("1 2 1\n2 3 inf\n", 3),
                                        ("1\u00a02 1\n", 2),        # a no-break space is not a separator
                                        ("1 2 1\x0b2 3 1\n", 2)])   # nor is a vertical tab a line end
def test_gset_tokens_are_gset_syntax(tmp_path, body, line):
    p = tmp_path / "g.txt"
    p.write_text(f"10 {body.count(chr(10))}\n{body}", encoding="utf-8")
    with pytest.raises(ValueError, match=f"g.txt line {line}"):
        read_gset(p)


def test_gset_header_cannot_make_the_reader_allocate(tmp_path):
    p = tmp_path / "huge.txt"
    p.write_text("5 1000000000000\n1 2 1\n2 3 1\n")
    with pytest.raises(ValueError, match="huge.txt line 4: file truncated: header promises 1000000000000"):
        read_gset(p)
    p.write_text(f"{MAX_DECLARED + 1} 1\n1 2 1\n")
    with pytest.raises(ValueError, match="huge.txt line 1: declared number of nodes"):
        read_gset(p)


QBL = "p\nQBL\nminimize\n{n}\n{m}\n1\n1 1 2.0\n0\n0\n0\n2\n1 1 1\n1 2 1\n1e30\n1\n0\n1\n0\n0\n0\n0\n0\n0\n0\n0\n0\n"


@pytest.mark.parametrize("n, m, what, line", [(10 ** 12, 1, "number of variables", 4),
                                              (2, 10 ** 12, "number of constraints", 5)])
def test_qplib_declared_counts_are_limited(tmp_path, n, m, what, line):
    p = tmp_path / "huge.qplib"
    p.write_text(QBL.format(n=n, m=m))
    with pytest.raises(ValueError, match=f"huge.qplib line {line}: declared {what}"):
        read_qplib(p)


def test_qplib_numbers_are_plain_decimals(tmp_path):
    good = QBL.format(n=2, m=1)
    read_qplib(tmp_path.joinpath("ok.qplib")) if tmp_path.joinpath("ok.qplib").write_text(good) else None
    for bad, line in (("1 1 2.0\n", "1 1 2_0\n"), ("1e30\n", "nan\n")):
        p = tmp_path / "bad.qplib"
        p.write_text(good.replace(bad, line, 1))
        with pytest.raises(ValueError, match="bad.qplib line"):
            read_qplib(p)


GAMS = """Variables objvar,x1;
Equations e1;
e1.. objvar - x1 =E= 0;
{bounds}
Model m / all /;
Solve m using LP minimizing objvar;
"""


def _gams_bounds(statements):
    """Independent semantics: each statement assigns in order; .fx assigns both; .l nothing."""
    lo, up = -np.inf, np.inf
    for attr, v in statements:
        if attr in ("lo", "fx"):
            lo = v
        if attr in ("up", "fx"):
            up = v
    return lo, up


@pytest.mark.parametrize("statements", [[("up", 3), ("fx", 1), ("lo", 0)], [("fx", 2), ("up", 5)],
                                        [("lo", -1), ("up", 4), ("fx", 0), ("up", 1)],
                                        [("fx", 1), ("l", 0.5), ("lo", -2)]])
def test_gams_bounds_apply_in_program_order(tmp_path, statements):
    p = tmp_path / "order.gms"
    p.write_text(GAMS.format(bounds="\n".join(f"x1.{a} = {v};" for a, v in statements)))
    P = read_gams(p)
    assert (P.lower[0], P.upper[0]) == _gams_bounds(statements)


@pytest.mark.parametrize("expr, msg", [("(" * 500 + "x1" + ")" * 500, "nested deeper"),
                                       ("1e200*1e200*x1", "overflows"), ("1e400*x1", "out of the float64"),
                                       ("\u0663*x1", "unexpected character")])
def test_gams_expressions_fail_with_file_and_line(tmp_path, expr, msg):
    p = tmp_path / "deep.gms"
    p.write_text(GAMS.format(bounds="x1.lo = 0; x1.up = 1;").replace("objvar - x1", f"objvar - {expr}"))
    with pytest.raises(ValueError, match=f"deep.gms line 3: .*{msg}"):
        read_gams(p)
    p.write_text(GAMS.format(bounds="x1.lo = 0; x1.up = 1;").replace("objvar - x1", "objvar - " + "-" * 5000 + "x1"))
    assert read_gams(p).g[0] == 1.0          # 5000 unary minus signs: an even count, parsed without recursion


def _npz(path, header: dict, data: bytes, name="J.npy"):
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name, buf.getvalue() + data)


def test_sk_npz_header_checked_against_the_file(tmp_path):
    p = tmp_path / "J.npz"
    _npz(p, {"descr": "<f8", "fortran_order": False, "shape": (4000, 4000)}, b"\0" * 64)
    with pytest.raises(ValueError, match="J.npz: member 'J.npy': declares shape \\(4000, 4000\\) float64 = "
                                         "128000000 bytes but holds 64"):
        read_sk(p)
    _npz(p, {"descr": "<f8", "fortran_order": False, "shape": (40000, 40000)}, b"\0" * 64)
    with pytest.raises(ValueError, match="J.npz: member 'J.npy': declares .* above the limit"):
        read_sk(p)
    np.savez(p, J=np.array([np.zeros((2, 2)), "x"], dtype=object))
    with pytest.raises(ValueError, match="J.npz: member 'J.npy': holds an object array"):
        read_sk(p)
    J = np.array([[0.0, 1.5], [1.5, 0.0]])
    np.savez(p, J=J)
    assert np.array_equal(read_sk(p).J, J)
    b = bytearray(p.read_bytes())
    b[b.find(b"\x93NUMPY") + 130] ^= 0xFF
    p.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="J.npz: not a readable"):
        read_sk(p)


def test_gams_product_expansion_is_limited(tmp_path):
    names = ",".join(f"y{i}" for i in range(1001))
    text = (f"Variables objvar,{names};\nBinary Variables {names};\nEquations e1;\n"
            f"e1.. objvar - sqr({'+'.join(f'y{i}' for i in range(1001))}) =E= 0;\n"
            "Model m / all /;\nSolve m using MIQP minimizing objvar;\n")
    p = tmp_path / "bomb.gms"
    p.write_text(text)
    with pytest.raises(ValueError, match="bomb.gms line 4: .*1001 x 1001 linear terms"):
        read_gams(p)
    p.write_text(text.replace("sqr(", "(", 1))          # the same sum, linear: read in one pass
    P = read_gams(p)
    assert P.n == 1001 and np.all(P.g == 1.0)


def test_qplib_dense_form_is_not_built_for_a_declared_huge_n(tmp_path):
    p = tmp_path / "big.qplib"
    p.write_text("T\nQBN\nminimize\n100000\n1\n1 1 2.0\n0\n0\n1.5\n1e30\n0\n0\n0\n0\n0\n")
    with pytest.raises(ValueError, match="big.qplib: n = 100000 variables: the dense QUBO/QUMO form"):
        read_qplib(p)
    assert read_qplib(p, as_constrained=True).n == 100000          # the sparse form reads it
