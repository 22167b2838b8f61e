"""Transaction settlement as a mixed binary/continuous QUMO (the paper's first industrial problem).

Instance (real units: money, e.g. thousands of EUR; all amounts integers by default):
  P parties with balance ``B_p >= 0`` and credit limit ``L_p >= 0``; T transactions t paying
  ``v_t > 0`` from ``payer[t]`` to ``payee[t]``.

Decision: ``y_t in {0, 1}`` settle transaction t (all or nothing). After settlement party p's
position is ``B_p + inflow_p(y) - outflow_p(y)`` and must not go below ``-L_p``:

  ``c_p(y) = B_p + L_p + sum_{t: payee=p} v_t y_t - sum_{t: payer=p} v_t y_t >= 0``   (liquidity).

Goal: maximise the settled value ``V(y) = sum_t v_t y_t`` under the P liquidity constraints.

QUMO formulation (T binaries + P continuous slacks; the paper's instance has 41 variables,
here 33 transactions + 8 parties by default). Each inequality becomes an equality with a slack
``u_p in [0, U_p]``, ``U_p = B_p + L_p + sum_{t: payee=p} v_t`` (the largest value c_p can take),
enforced by a quadratic penalty of weight ``lambda`` (per money unit):

  ``F(y, u) = -V(y) + lambda * sum_p (c_p(y) - u_p)^2``      (money units).

For fixed y the best slack is ``u_p = max(c_p, 0)``, so the penalty is ``lambda * sum_p
min(c_p, 0)^2``: zero exactly when y is feasible. Default ``lambda = max_t v_t``: with integer data
a violation costs at least lambda per party, as much as the largest single payment is worth.
This is a heuristic, not a proof that the QUMO optimum is feasible; :func:`settlement_optimum`
and :func:`max_settled_value` let a user check it (the tests do, on many seeds).

Variable maps (canonical QUMO state x in {-1,1}^T x [-1,1]^P, ``QUMO.from_box_quadratic``):
  ``y_t = (1 + x_t) / 2``,  ``u_p = U_p (1 + x_{T+p}) / 2``; the QUMO energy equals F(y, u)
exactly (offset included), so energies are in money units (negative = value settled).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from ..._validation import fail, finite_real, positive_int
from ..models.problems import QUMO

__all__ = ["SettlementInstance", "SettlementDecision", "settlement_instance", "settlement_qumo",
           "decode_settlement", "settlement_objective", "settlement_blocks", "settlement_optimum", "max_settled_value"]

_BRUTE_MAX_T = 20


@dataclass(frozen=True, eq=False)
class SettlementInstance:
    balances: np.ndarray       # (P,) float, money >= 0
    credit_limits: np.ndarray  # (P,) float, money >= 0
    payer: np.ndarray          # (T,) int in [0, P)
    payee: np.ndarray          # (T,) int in [0, P), != payer
    amounts: np.ndarray        # (T,) float, money > 0
    penalty: float             # lambda, per money unit, > 0

    def __post_init__(self):
        fn = "SettlementInstance"
        P, T = np.size(self.balances), np.size(self.amounts)
        for name, arr, shape in (("balances", self.balances, P), ("credit_limits", self.credit_limits, P),
                                 ("payer", self.payer, T), ("payee", self.payee, T)):
            if np.shape(arr) != (shape,):
                fail(fn, name, f"of shape ({shape},)", f"shape {np.shape(arr)}")
        if P < 2 or T < 1:
            fail(fn, "balances/amounts", "at least 2 parties and 1 transaction", f"P={P}, T={T}")
        for name in ("balances", "credit_limits", "amounts"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(a)) or np.any(a < 0) or (name == "amounts" and np.any(a <= 0)):
                fail(fn, name, "finite and " + ("> 0" if name == "amounts" else ">= 0"), a)
        for name in ("payer", "payee"):
            a = np.asarray(getattr(self, name))
            if a.dtype.kind not in "iu" or np.any(a < 0) or np.any(a >= P):
                fail(fn, name, f"integer party indices in [0, {P - 1}]", a)
        if np.any(np.asarray(self.payer) == np.asarray(self.payee)):
            fail(fn, "payee", "different from payer for every transaction",
                 f"transaction {int(np.argmax(np.asarray(self.payer) == np.asarray(self.payee)))}")
        finite_real(fn, "penalty", self.penalty, positive=True)

    @property
    def n_parties(self) -> int:
        return int(np.size(self.balances))

    @property
    def n_transactions(self) -> int:
        return int(np.size(self.amounts))

    @property
    def n_variables(self) -> int:
        return self.n_transactions + self.n_parties

    @property
    def flow_matrix(self) -> np.ndarray:
        """M (P, T): +v_t in the payee's row, -v_t in the payer's row, so c = B + L + M y."""
        M = np.zeros((self.n_parties, self.n_transactions))
        t = np.arange(self.n_transactions)
        M[self.payee, t] += self.amounts
        M[self.payer, t] -= self.amounts
        return M

    @property
    def capacity(self) -> np.ndarray:
        """(P,) B + L: what each party may pay out net."""
        return np.asarray(self.balances, float) + np.asarray(self.credit_limits, float)

    @property
    def slack_upper(self) -> np.ndarray:
        """(P,) U_p = B_p + L_p + all inflows: the largest c_p(y)."""
        return self.capacity + np.bincount(self.payee, weights=self.amounts, minlength=self.n_parties)

    def liquidity(self, settled) -> np.ndarray:
        """c(y) (P,) or (R, P) for settled (T,) or (R, T) in {0, 1}."""
        return self.capacity + np.asarray(settled, dtype=np.float64) @ self.flow_matrix.T


@dataclass
class SettlementDecision:
    settled: np.ndarray      # (T,) bool
    slack: np.ndarray        # (P,) money, the continuous variables in real units
    positions: np.ndarray    # (P,) money, B + inflow - outflow after settlement
    shortfall: np.ndarray    # (P,) money >= 0, max(0, -c_p): how far below -L_p each party ends
    feasible: bool
    settled_value: float     # money
    objective: float         # F(y, u) = -V + lambda * sum (c - u)^2, money


def settlement_instance(n_parties: int = 8, n_transactions: int = 33, *, seed: int = 0,
                        max_amount: int = 5, penalty: float | None = None) -> SettlementInstance:
    """Seeded random instance: integer amounts in [1, max_amount], random payer != payee, integer
    balances in [0, 0.25 * outflow_p] and credit limits in [0, 0.1 * outflow_p] so that liquidity
    binds; penalty defaults to the largest amount."""
    fn = "settlement_instance"
    P = positive_int(fn, "n_parties", n_parties, minimum=2)
    T = positive_int(fn, "n_transactions", n_transactions)
    max_amount = positive_int(fn, "max_amount", max_amount)
    rng = np.random.default_rng(positive_int(fn, "seed", seed, minimum=0))
    payer = rng.integers(0, P, T)
    payee = (payer + rng.integers(1, P, T)) % P
    amounts = rng.integers(1, max_amount + 1, T).astype(np.float64)
    outflow = np.bincount(payer, weights=amounts, minlength=P)
    balances = np.floor(rng.uniform(0, 0.25, P) * outflow)
    credit = np.floor(rng.uniform(0, 0.1, P) * outflow)
    lam = float(amounts.max()) if penalty is None else finite_real(fn, "penalty", penalty, positive=True)
    return SettlementInstance(balances, credit, payer, payee, amounts, lam)


def settlement_qumo(inst: SettlementInstance) -> QUMO:
    """Exact QUMO of F(y, u): variables [y_0..y_{T-1} binary, u_0..u_{P-1} continuous] (see module doc).

    Returned normalised (binary diagonals folded into the offset, same energies); ``solve`` does
    the same fold itself, so this only makes the returned matrix the one the solver iterates."""
    T, P = inst.n_transactions, inst.n_parties
    K = np.hstack([inst.flow_matrix, -np.eye(P)])       # residual r = d + K z, z = (y, u)
    d = inst.capacity
    lam = inst.penalty
    H = 2.0 * lam * K.T @ K
    g = np.concatenate([-np.asarray(inst.amounts, float), np.zeros(P)]) + 2.0 * lam * K.T @ d
    f = lam * float(d @ d)
    upper = np.concatenate([np.ones(T), inst.slack_upper])
    binary = np.concatenate([np.ones(T, bool), np.zeros(P, bool)])
    return QUMO.from_box_quadratic(H, g, f, np.zeros(T + P), upper, binary,
                                   meta={"name": f"settlement-P{P}-T{T}", "units": "money"}).normalised()


def settlement_objective(inst: SettlementInstance, settled, slack=None) -> float:
    """F(y, u) in money units; slack None -> the optimal slack max(c, 0) (penalty on shortfalls only)."""
    y = np.asarray(settled, dtype=np.float64)
    c = inst.liquidity(y)
    r = np.minimum(c, 0.0) if slack is None else c - np.asarray(slack, dtype=np.float64)
    return float(-(y @ inst.amounts) + inst.penalty * np.sum(r * r))


def decode_settlement(inst: SettlementInstance, x) -> SettlementDecision:
    """Canonical QUMO state x (n,) -> the settlement decision in real units."""
    fn = "decode_settlement"
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    T = inst.n_transactions
    if x.shape != (inst.n_variables,):
        fail(fn, "x", f"a state of shape ({inst.n_variables},)", f"shape {x.shape}")
    if np.any(np.abs(x) > 1 + 1e-9) or not np.all(np.isfinite(x)):
        fail(fn, "x", "finite entries in [-1, 1]", f"max |x| = {np.nanmax(np.abs(x))}")
    settled = x[:T] >= 0
    slack = inst.slack_upper * (1.0 + np.clip(x[T:], -1, 1)) / 2.0
    y = settled.astype(np.float64)
    c = inst.liquidity(y)
    positions = np.asarray(inst.balances, float) + c - inst.capacity
    shortfall = np.maximum(-c, 0.0)
    return SettlementDecision(settled, slack, positions, shortfall, bool(np.all(shortfall <= 1e-9)),
                              float(y @ inst.amounts), settlement_objective(inst, y, slack))


def settlement_blocks(inst: SettlementInstance, block_size: int = 7):
    """Problem-aware BCD blocks: ``picker(rng) -> list of index arrays`` for :func:`bcd_auxiliary`.

    A transaction can only change in a block that also holds the slacks of its payer and payee
    (otherwise the equality residual c_p - u_p jumps by v_t and costs lambda v_t^2), so each block
    starts from a random not-yet-covered transaction with its two parties' slacks and is filled
    greedily (random order) with further transactions whose parties' slacks still fit.
    """
    size = positive_int("settlement_blocks", "block_size", block_size, minimum=3)
    T = inst.n_transactions
    payer, payee = np.asarray(inst.payer), np.asarray(inst.payee)

    def picker(rng: np.random.Generator) -> list[np.ndarray]:
        covered = np.zeros(T, bool)
        out = []
        for t0 in rng.permutation(T):
            if covered[t0]:
                continue
            trans, parties = [int(t0)], {int(payer[t0]), int(payee[t0])}
            for t in rng.permutation(T):
                new = parties | {int(payer[t]), int(payee[t])}
                if t != t0 and len(trans) + 1 + len(new) <= size and (not covered[t] or rng.random() < 0.3):
                    trans.append(int(t))
                    parties = new
            covered[trans] = True
            out.append(np.array(trans + [T + p for p in sorted(parties)]))
        return out
    return picker


def _integer_data(inst: SettlementInstance) -> bool:
    a = np.concatenate([inst.amounts, inst.balances, inst.credit_limits])
    return bool(np.all(a == np.round(a)))


def settlement_optimum(inst: SettlementInstance, method: str = "auto") -> tuple[np.ndarray, float]:
    """Exact minimum of F (= of the QUMO): (settled (T,) bool, energy in money units).

    method 'auto': 'enumerate' for T <= 20, else 'milp'. 'enumerate': enumeration of all 2^T decisions with the optimal slack. Larger T: a MILP (HiGHS)
    with the shortfall delta_p >= -c_p(y), delta_p >= 0 and delta_p^2 written exactly as the max of
    its tangents (2k+1) delta - k(k+1), k = 0..K_p, which is exact for integer data (integer
    shortfalls); non-integer data above T = 20 is rejected.
    """
    fn = "settlement_optimum"
    T, P = inst.n_transactions, inst.n_parties
    if method not in ("auto", "enumerate", "milp"):
        fail(fn, "method", "'auto', 'enumerate' or 'milp'", repr(method))
    if method == "enumerate" and T > _BRUTE_MAX_T:
        fail(fn, "method", f"'milp' or 'auto' for T > {_BRUTE_MAX_T} transactions", repr(method))
    if method == "enumerate" or (method == "auto" and T <= _BRUTE_MAX_T):
        best_e, best_y = np.inf, None
        bits = np.arange(T)
        for start in range(0, 1 << T, 1 << 15):
            idx = np.arange(start, min(1 << T, start + (1 << 15)))
            Y = ((idx[:, None] >> bits) & 1).astype(np.float64)
            c = inst.liquidity(Y)
            E = -(Y @ inst.amounts) + inst.penalty * np.sum(np.minimum(c, 0.0) ** 2, axis=1)
            k = int(np.argmin(E))
            if E[k] < best_e - 1e-12:
                best_e, best_y = float(E[k]), Y[k].astype(bool)
        return best_y, best_e
    if not _integer_data(inst):
        fail(fn, "inst", "integer amounts, balances and limits for the MILP", "non-integer data")
    M, d = inst.flow_matrix, inst.capacity
    Kp = np.maximum(0.0, np.bincount(inst.payer, weights=inst.amounts, minlength=P) - d).astype(int)
    nv = T + 2 * P
    rows, lo = [], []
    for p in range(P):                       # delta_p + M_p y >= -d_p
        r = np.zeros(nv)
        r[:T], r[T + p] = M[p], 1.0
        rows.append(r)
        lo.append(-d[p])
        for k in range(Kp[p] + 1):           # z_p >= (2k+1) delta_p - k(k+1)
            r = np.zeros(nv)
            r[T + P + p], r[T + p] = 1.0, -(2 * k + 1)
            rows.append(r)
            lo.append(-k * (k + 1))
    cost = np.concatenate([-np.asarray(inst.amounts, float), np.zeros(P), inst.penalty * np.ones(P)])
    res = milp(cost, constraints=LinearConstraint(np.array(rows), np.array(lo, float), np.inf),
               integrality=np.concatenate([np.ones(T), np.zeros(2 * P)]),
               bounds=Bounds(np.zeros(nv), np.concatenate([np.ones(T), Kp, Kp.astype(float) ** 2])),
               options={"mip_rel_gap": 0.0})
    if not res.success:  # pragma: no cover - HiGHS failure
        raise RuntimeError(f"{fn}(): MILP failed: {res.message}")
    y = res.x[:T] > 0.5
    return y, settlement_objective(inst, y.astype(np.float64))


def max_settled_value(inst: SettlementInstance) -> tuple[np.ndarray, float]:
    """The hard-constrained problem: max V(y) s.t. c(y) >= 0 (MILP). Returns (settled (T,), value)."""
    T = inst.n_transactions
    res = milp(-np.asarray(inst.amounts, float),
               constraints=LinearConstraint(inst.flow_matrix, -inst.capacity, np.inf),
               integrality=np.ones(T), bounds=Bounds(np.zeros(T), np.ones(T)), options={"mip_rel_gap": 0.0})
    if not res.success:  # pragma: no cover - y = 0 is always feasible
        raise RuntimeError(f"max_settled_value(): MILP failed: {res.message}")
    y = res.x > 0.5
    return y, float(y @ inst.amounts)
