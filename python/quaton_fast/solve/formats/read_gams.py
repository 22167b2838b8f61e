"""Reader for the GAMS "convert" format in which QPLIB and MINLPLib distribute models (``.gms``).

Accepted subset (anything else is refused with ``ValueError("read_gams(): F line L: ...")``, or
``NotImplementedError`` naming file and line for valid GAMS this package cannot solve):

* comments: lines starting with ``*``; dollar-control lines ``$offlisting``/``$onlisting`` and the
  two lines convert writes around the solve (``$if NOT '%gams.u1%' == '' $include '%gams.u1%'``,
  ``$if not set NAME $set NAME VALUE``);
* declarations ``Variables``, ``Free Variables``, ``Positive Variables``, ``Binary Variables``
  (comma-separated names, over several lines, ending with ``;``); ``Integer``, ``Negative``, ``SOS1``,
  ``SOS2``, ``SemiCont``, ``SemiInt`` variables are refused (NotImplementedError);
* ``Equations e1,e2,...;`` and their definitions ``eK.. expr =E=|=L=|=G= expr;`` where expr is a
  polynomial of degree <= 2: numbers, variables, ``+ - *``, parentheses and ``sqr(...)``;
* bounds ``x.lo = v;``, ``x.up = v;``, ``x.fx = v;`` (applied in program order, as GAMS executes
  them: ``x.fx = 1; x.lo = 0;`` leaves [0, 1]) and starting levels ``x.l = v;`` (ignored);
* ``Model m / all /;``, attribute settings of that model (``m.limrow=0;`` ...; ignored, they are
  solver options) and ``Solve m using <type> minimizing|maximizing <objvar>;``.

The objective variable must occur in exactly one row, an ``=E=`` row, linearly with a nonzero
coefficient c, so ``objvar = -(rest of the row)/c``; every other row must be linear (a quadratic
constraint raises NotImplementedError naming it). Variables other than objvar are the problem's
variables in the order of their first declaration. Free or positive continuous variables need
finite bounds (NotImplementedError otherwise). Returns a ConstrainedProblem in the file's sense and
variables (GAMS product c*x*y with x != y -> H_xy = H_yx = c; c*sqr(x) or c*x*x -> H_xx = 2c).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..models.constraints import ConstrainedProblem
from ._files import _err, _path, naming_file, read_text, strict_float, text_lines

__all__ = ["read_gams"]

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[-+*/(),]))")
_DOLLAR_OK = (re.compile(r"\$(offlisting|onlisting)\s*", re.I),
              re.compile(r"\$if\s+not\s+'%gams\.u1%'\s*==\s*''\s+\$include\s+'%gams\.u1%'\s*", re.I),
              re.compile(r"\$if\s+not\s+set\s+(\w+)\s+\$set\s+\1\s+\w+\s*", re.I))
_REFUSED_VARS = ("integer", "negative", "sos1", "sos2", "semicont", "semiint")
#: deepest nesting of parentheses / sqr( ) in one expression (the parser recurses once per level)
MAX_NESTING = 100
#: most quadratic terms one product may expand to: sqr(x1 + ... + xk) has k(k+1)/2, so a 100 KB line
#: could otherwise ask for 1e9 dictionary entries (convert files write products out term by term)
MAX_PRODUCT_TERMS = 1_000_000


class _Poly:
    """Polynomial of degree <= 2: constant, {var: coef}, {(i, j) i <= j: coef}."""
    __slots__ = ("c", "lin", "quad")

    def __init__(self, c=0.0, lin=None, quad=None):
        self.c, self.lin, self.quad = c, lin or {}, quad or {}

    def deg(self) -> int:
        return 2 if self.quad else (1 if self.lin else 0)

    def add(self, o: "_Poly", s: float = 1.0) -> "_Poly":
        lin, quad = dict(self.lin), dict(self.quad)
        for k, v in o.lin.items():
            lin[k] = lin.get(k, 0.0) + s * v
        for k, v in o.quad.items():
            quad[k] = quad.get(k, 0.0) + s * v
        return _Poly(self.c + s * o.c, lin, quad)

    def iadd(self, o: "_Poly", s: float = 1.0) -> "_Poly":
        """self += s*o in place (a sum of k terms in O(k), not O(k^2)); self must be unshared."""
        self.c += s * o.c
        for k, v in o.lin.items():
            self.lin[k] = self.lin.get(k, 0.0) + s * v
        for k, v in o.quad.items():
            self.quad[k] = self.quad.get(k, 0.0) + s * v
        return self

    def scale(self, s: float) -> "_Poly":
        return _Poly(s * self.c, {k: s * v for k, v in self.lin.items()}, {k: s * v for k, v in self.quad.items()})

    def mul(self, o: "_Poly") -> "_Poly | None":
        if self.deg() + o.deg() > 2:
            return None
        if self.deg() == 0:
            return o.scale(self.c)
        if o.deg() == 0:
            return self.scale(o.c)
        out = _Poly(self.c * o.c)               # both linear
        for k, v in self.lin.items():
            out.lin[k] = out.lin.get(k, 0.0) + v * o.c
        for k, v in o.lin.items():
            out.lin[k] = out.lin.get(k, 0.0) + v * self.c
        for i, a in self.lin.items():
            for j, b in o.lin.items():
                key = (min(i, j), max(i, j))
                out.quad[key] = out.quad.get(key, 0.0) + a * b
        return out


class _Parser:
    """Recursive descent over one expression: expr := term {(+|-) term}; term := unary {* unary};
    unary := {(+|-)} atom (a loop, not recursion); atom := number | variable | ( expr ) | sqr ( expr ).
    Parentheses recurse: nesting deeper than MAX_NESTING is refused naming the file and line (instead
    of Python's RecursionError)."""

    def __init__(self, text: str, var_index: dict, fail):
        self.toks, self.k, self.var_index, self.fail, self.depth = [], 0, var_index, fail, 0
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                fail(f"unexpected character {text[pos:pos + 10].strip()!r} in an expression")
            pos = m.end()
            kind = m.lastgroup
            self.toks.append((kind, m.group(kind)))

    def peek(self):
        return self.toks[self.k] if self.k < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.k += 1
        return t

    def parse(self) -> _Poly:
        p = self.expr()
        if self.k != len(self.toks):
            self.fail(f"unexpected {self.peek()[1]!r} in an expression")
        return p

    def expr(self) -> _Poly:
        p = self.term().add(_Poly())          # a private copy, then summed in place
        while self.peek()[1] in ("+", "-"):
            s = 1.0 if self.take()[1] == "+" else -1.0
            p.iadd(self.term(), s)
        return p

    def term(self) -> _Poly:
        p = self.unary()
        while self.peek()[1] in ("*", "/", "**"):
            op = self.take()[1]
            if op != "*":
                self.fail(f"operator {op!r} is outside the supported subset (+, -, *, sqr)")
            q = self.product(p, self.unary())
            if q is None:
                self.fail("a product of degree > 2 (only quadratic expressions are supported)")
            p = q
        return p

    def unary(self) -> _Poly:
        s = 1.0
        while self.peek()[1] in ("+", "-"):
            if self.take()[1] == "-":
                s = -s
        p = self.atom()
        return p if s == 1.0 else p.scale(s)

    def product(self, a: _Poly, b: _Poly) -> "_Poly | None":
        """a*b, refused (file and line) when it would expand to more than MAX_PRODUCT_TERMS terms."""
        if len(a.lin) * len(b.lin) > MAX_PRODUCT_TERMS:
            self.fail(f"a product of {len(a.lin)} x {len(b.lin)} linear terms expands to more than "
                      f"{MAX_PRODUCT_TERMS} quadratic terms (read_gams.MAX_PRODUCT_TERMS)")
        return a.mul(b)

    def nested(self) -> _Poly:
        """``expr`` one nesting level deeper (inside parentheses or sqr)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"parentheses nested deeper than {MAX_NESTING} levels (read_gams.MAX_NESTING)")
        p = self.expr()
        self.depth -= 1
        return p

    def atom(self) -> _Poly:
        kind, v = self.take()
        if kind == "num":
            x = float(v)
            if not np.isfinite(x):
                self.fail(f"number {v} is out of the float64 range")
            return _Poly(x)
        if v == "(":
            p = self.nested()
            if self.take()[1] != ")":
                self.fail("missing ')'")
            return p
        if kind == "id":
            if v.lower() == "sqr" and self.peek()[1] == "(":
                self.take()
                p = self.nested()
                if self.take()[1] != ")":
                    self.fail("missing ')' after sqr(")
                q = self.product(p, p)
                if q is None:
                    self.fail("sqr of a non-linear expression (degree > 2)")
                return q
            if self.peek()[1] == "(":
                self.fail(f"function {v}(...) is outside the supported subset (only sqr)")
            if v not in self.var_index:
                self.fail(f"undeclared variable {v!r}")
            return _Poly(0.0, {self.var_index[v]: 1.0})
        self.fail(f"unexpected {v!r} in an expression" if v is not None else "expression ends early")


def _statements(func: str, p: Path, text: str):
    """Yield (line, statement text) for ';'-terminated statements, skipping comments and the
    accepted $-lines."""
    buf, start = [], None
    for ln, raw in enumerate(text_lines(text), 1):
        s = raw.rstrip()
        if not s.strip() or s.startswith("*"):
            continue
        if s.lstrip().startswith("$"):
            if buf:
                raise _err(func, p, ln, "a $-control line inside a statement")
            if not any(r.fullmatch(s.strip()) for r in _DOLLAR_OK):
                raise _err(func, p, ln, f"dollar-control line outside the supported subset: {s.strip()!r}")
            continue
        while s:
            i = s.find(";")
            if start is None:
                start = ln
            if i < 0:
                buf.append(s)
                break
            buf.append(s[:i])
            yield start, " ".join(buf).strip()
            buf, start = [], None
            s = s[i + 1:].strip()
    if buf and " ".join(buf).strip():
        raise _err(func, p, start, "statement not terminated by ';' at the end of the file")


def _names(func, p, ln, text: str) -> list[str]:
    out = [x.strip() for x in text.split(",")]
    for x in out:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", x):
            raise _err(func, p, ln, f"expected a comma-separated list of names, got {x!r}")
    return out


def read_gams(path: str | os.PathLike) -> ConstrainedProblem:
    """Read a GAMS convert model (module docstring: the accepted subset and the conventions).

    Returns a ConstrainedProblem (``meta``: name, sense, path, objective variable, equation names of
    the rows: ``meta['eq_rows']``, ``meta['ineq_rows']`` list the source equation of each row; a
    ``=G=`` row is stored negated). Raises ValueError (file and line) for anything outside the
    subset, NotImplementedError for quadratic constraints, general integers or unbounded
    continuous variables, FileNotFoundError for a missing file."""
    func = "read_gams"
    p = _path(func, path)
    text = read_text(func, p)
    var_index: dict[str, int] = {}
    kind: dict[str, str] = {}
    decl_line: dict[str, int] = {}
    equations: dict[str, int] = {}
    rows: dict[str, tuple] = {}
    bounds: dict[str, list] = {}          # var -> [(attribute, value, line)] in program order
    model = solve = None
    for ln, st in _statements(func, p, text):
        def bad(msg, ln=ln):
            raise _err(func, p, ln, msg)
        m = re.fullmatch(r"(?:(free|positive|binary|integer|negative|sos1|sos2|semicont|semiint)\s+)?variables?\s+(.*)",
                         st, re.I | re.S)
        if m:
            mod = (m.group(1) or "free").lower()
            if mod in _REFUSED_VARS:
                raise NotImplementedError(f"{func}(): {p.name} line {ln}: {mod} variables are not supported "
                                          f"(only free, positive and binary variables)  [file: {p}]")
            for v in _names(func, p, ln, m.group(2)):
                if v not in var_index:
                    var_index[v] = len(var_index)
                    kind[v], decl_line[v] = "free", ln
                if mod != "free":
                    kind[v] = mod
            continue
        m = re.fullmatch(r"equations?\s+(.*)", st, re.I | re.S)
        if m:
            for e in _names(func, p, ln, m.group(1)):
                if e in equations:
                    bad(f"equation {e!r} declared twice")
                equations[e] = ln
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*\.\.\s*(.*)", st, re.S)
        if m:
            e = m.group(1)
            if e not in equations:
                bad(f"equation {e!r} defined but not declared in an Equations statement")
            if e in rows:
                bad(f"equation {e!r} defined twice")
            parts = re.split(r"(=[eEgGlLnNxXcCbB]=)", m.group(2))
            if len(parts) != 3:
                bad(f"equation {e!r}: expected exactly one relation =E=, =L= or =G=")
            rel = parts[1].upper()
            if rel not in ("=E=", "=L=", "=G="):
                bad(f"equation {e!r}: relation {rel} is outside the supported subset (=E=, =L=, =G=)")
            fail = lambda msg: bad(f"equation {e!r}: {msg}")  # noqa: E731
            lhs = _Parser(parts[0], var_index, fail).parse()
            rhs = _Parser(parts[2], var_index, fail).parse()
            row = lhs.add(rhs, -1.0)
            if not all(np.isfinite(c) for c in (row.c, *row.lin.values(), *row.quad.values())):
                fail("a coefficient overflows the float64 range (|value| > 1.8e308) after expanding the products")
            rows[e] = (ln, rel, row)
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*\.\s*(lo|up|fx|l)\s*=\s*(\S+)", st, re.I)
        if m and m.group(1) in var_index:
            val = strict_float(m.group(3))
            if val is None:
                bad(f"expected a finite plain decimal number after {m.group(1)}.{m.group(2)} =, got {m.group(3)!r}")
            bounds.setdefault(m.group(1), []).append((m.group(2).lower(), val, ln))
            continue
        m = re.fullmatch(r"model\s+([A-Za-z_]\w*)\s*/\s*all\s*/", st, re.I)
        if m:
            if model is not None:
                bad("a second Model statement")
            model = m.group(1)
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*\.\s*(\w+)\s*=\s*[-+]?[0-9.eE+-]+", st)
        if m and model is not None and m.group(1) == model:
            continue                                          # solver option of the model
        m = re.fullmatch(r"solve\s+([A-Za-z_]\w*)\s+using\s+\S+\s+(minimizing|maximizing)\s+([A-Za-z_]\w*)", st, re.I)
        if m:
            if m.group(1) != model:
                bad(f"Solve names model {m.group(1)!r}, declared: {model!r}")
            if solve is not None:
                bad("a second Solve statement")
            solve = (ln, m.group(2).lower(), m.group(3))
            continue
        bad(f"statement outside the supported GAMS subset: {st[:80]!r}" + ("..." if len(st) > 80 else ""))
    if solve is None:
        raise _err(func, p, None, "no 'Solve m using ... minimizing|maximizing objvar' statement")
    for e, ln in equations.items():
        if e not in rows:
            raise _err(func, p, ln, f"equation {e!r} declared but never defined")
    sln, sense_word, objvar = solve
    if objvar not in var_index:
        raise _err(func, p, sln, f"objective variable {objvar!r} is not declared")
    ov = var_index[objvar]
    obj_rows = [e for e, (_, _, poly) in rows.items()
                if ov in poly.lin or any(ov in k for k in poly.quad)]
    if len(obj_rows) != 1:
        raise _err(func, p, sln, f"objective variable {objvar!r} must occur in exactly one equation, "
                                 f"found {len(obj_rows)}: {obj_rows[:5]}")
    oln, orel, opoly = rows[obj_rows[0]]
    if orel != "=E=" or any(ov in k for k in opoly.quad) or opoly.lin.get(ov, 0.0) == 0.0:
        raise _err(func, p, oln, f"objective row {obj_rows[0]!r} must be an =E= row linear in {objvar!r}")
    if objvar in bounds or kind[objvar] != "free":
        raise _err(func, p, (bounds.get(objvar) or [(None, None, decl_line[objvar])])[0][2],
                   f"objective variable {objvar!r} must be free and unbounded")
    names = [v for v in var_index if v != objvar]
    col = {var_index[v]: k for k, v in enumerate(names)}
    n = len(names)
    if n == 0:
        raise _err(func, p, None, "no variables besides the objective variable")
    # objective: c*objvar + rest = 0  ->  objvar = -rest / c
    c = opoly.lin[ov]
    rest = _Poly(opoly.c, {k: v for k, v in opoly.lin.items() if k != ov}, opoly.quad).scale(-1.0 / c)
    g = np.zeros(n)
    for k, v in rest.lin.items():
        g[col[k]] += v
    Hr, Hc, Hv = [], [], []
    for (i, j), v in rest.quad.items():
        a, b = col[i], col[j]
        if a == b:
            Hr.append(a), Hc.append(a), Hv.append(2.0 * v)
        else:
            Hr += [a, b]
            Hc += [b, a]
            Hv += [v, v]
    H = sp.csr_matrix((Hv, (Hr, Hc)), shape=(n, n))
    eq, ineq, eq_names, in_names = [], [], [], []
    for e, (ln, rel, poly) in rows.items():
        if e == obj_rows[0]:
            continue
        if poly.quad:
            raise NotImplementedError(f"{func}(): {p.name} line {ln}: equation {e!r} is a quadratic constraint; "
                                      f"only linear constraints are supported  [file: {p}]")
        a = {col[k]: v for k, v in poly.lin.items() if v != 0.0}
        if ov in poly.lin:
            raise _err(func, p, ln, f"objective variable {objvar!r} in a constraint")
        if rel == "=E=":
            eq.append((a, -poly.c)), eq_names.append(e)
        elif rel == "=L=":
            ineq.append((a, -poly.c)), in_names.append(e)
        else:
            ineq.append(({k: -v for k, v in a.items()}, poly.c)), in_names.append(e)

    def mat(rws):
        r = [i for i, (a, _) in enumerate(rws) for _ in a]
        cc = [k for a, _ in rws for k in a]
        vv = [v for a, _ in rws for v in a.values()]
        return sp.csr_matrix((vv, (r, cc)), shape=(len(rws), n)), np.array([b for _, b in rws], float)

    A_eq, b_eq = mat(eq)
    A_in, b_in = mat(ineq)
    lo, up = np.full(n, -np.inf), np.full(n, np.inf)
    binary = np.zeros(n, bool)
    for k, v in enumerate(names):
        if kind[v] == "positive":
            lo[k] = 0.0
        elif kind[v] == "binary":
            lo[k], up[k], binary[k] = 0.0, 1.0, True
        b = bounds.get(v, [])
        for attr, val, _ in b:              # GAMS executes bound assignments in program order
            if attr == "lo":
                lo[k] = val
            elif attr == "up":
                up[k] = val
            elif attr == "fx":
                lo[k] = up[k] = val
        ln = max((t[2] for t in b), default=decl_line[v])
        if binary[k] and not (lo[k] in (0.0, 1.0) and up[k] in (0.0, 1.0)):
            raise _err(func, p, ln, f"binary variable {v!r} with bounds [{lo[k]}, {up[k]}] (expected 0 or 1)")
        if up[k] < lo[k]:
            raise _err(func, p, ln, f"variable {v!r} has upper bound {up[k]} < lower bound {lo[k]}")
        if not (np.isfinite(lo[k]) and np.isfinite(up[k])):
            raise NotImplementedError(
                f"{func}(): {p.name} line {ln}: continuous variable {v!r} has bounds [{lo[k]}, {up[k]}]; "
                f"the AOC needs finite bounds to map it onto [-1, 1] (add .lo/.up)  [file: {p}]")
    meta = {"name": p.stem, "sense": "maximize" if sense_word == "maximizing" else "minimize",
            "path": str(p), "objvar": objvar, "eq_rows": eq_names, "ineq_rows": in_names, "format": "gams"}
    with naming_file(func, p):        # e.g. coefficients too large: say which file, not only the argument
        return ConstrainedProblem(H, g, rest.c, meta["sense"], lo, up, binary, A_eq, b_eq, A_in, b_in, names, meta)
