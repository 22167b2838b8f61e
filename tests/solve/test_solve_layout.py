"""The solve/ package laid out by role (issue 24, item 5): every public name still imports from
``quaton_fast.solve``, the module paths from before the layout (used in README, docs, examples,
benchmarks and other branches) still import as the SAME modules, and no module of the layout needs
another to be imported first (no import cycles)."""
import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import quaton_fast.solve as solve
from quaton_fast.solve import _moved

SOLVE_DIR = pathlib.Path(solve.__file__).parent


#: quaton_fast.solve.__all__ before the layout: each must stay importable from the package
PUBLIC_BEFORE = [
    "solve", "SolveResult", "bcd", "QUBO", "QUMO", "Ising", "MaxCut", "brute_force", "read_gset", "read_rudy",
    "read_sk", "read_sk_ground_energies", "read_qplib", "ConstrainedProblem", "ConstrainedSolveResult",
    "solve_constrained", "bcd_constrained", "brute_force_constrained", "read_gams", "write_qplib", "read_instance",
    "bcd_auxiliary", "homogeneous_block", "AuxBCDResult", "continuous_optimum", "brute_force_qumo", "run_restarts",
    "RestartTrials", "SettlementInstance", "SettlementDecision", "settlement_instance", "settlement_qumo",
    "decode_settlement", "settlement_objective", "settlement_optimum", "max_settled_value", "settlement_blocks",
    "CSInstance", "cs_instance", "cs_qumo", "cs_objective", "cs_blocks", "decode_reconstruction", "planted_state",
    "reconstruction_errors", "measurement_matrix", "shepp_logan_line", "shepp_logan_image"]


def test_every_public_name_imports_from_the_package():
    assert len(solve.__all__) == len(set(solve.__all__)) and set(PUBLIC_BEFORE) <= set(solve.__all__)
    ns = {}
    exec("from quaton_fast.solve import *", ns)
    missing = [n for n in solve.__all__ if ns.get(n) is None]
    assert not missing


# (old module path, names imported from it in README.md, docs/, examples/ or benchmarks/ before the layout)
OLD_PATHS = [
    ("aoc_solver", ["solve", "SolveResult", "qumo_energy"]), ("problems", ["QUBO", "QUMO", "Ising", "MaxCut"]),
    ("readers", ["read_gams", "read_gset", "read_qplib"]), ("generators", ["toroidal_graph", "planted_qumo",
                                                                         "random_qubo", "crossdock_instance"]),
    ("trials", ["run_restarts", "update_records"]), ("stats", ["success_probability"]),
    ("qumo_exact", ["brute_force_qumo", "continuous_optimum"]), ("aux_bcd", ["bcd_auxiliary"]),
    ("hardware_solver", ["hardware_anneal"]), ("distributed", ["solve_sharded"]),
    ("entry_checks", ["as_qumo_arrays"]), ("constraints", ["ConstrainedProblem"]),
    ("constrained_solve", ["solve_constrained"]), ("settlement", ["settlement_instance"]),
    ("compressed_sensing", ["cs_instance"]),
]


@pytest.mark.parametrize("old,names", OLD_PATHS, ids=[o for o, _ in OLD_PATHS])
def test_old_module_paths_import_the_same_module(old, names):
    mod = importlib.import_module(f"quaton_fast.solve.{old}")
    for name in names:
        assert getattr(mod, name) is not None
    if old in _moved.MOVED:
        new = importlib.import_module(f"quaton_fast.solve.{_moved.MOVED[old]}.{old}")
        assert mod is new and getattr(solve, old) is new


def test_every_moved_module_exists_at_its_new_path_and_nowhere_flat():
    for old, pkg in _moved.MOVED.items():
        assert (SOLVE_DIR / pkg / f"{old}.py").is_file(), (old, pkg)
        assert not (SOLVE_DIR / f"{old}.py").exists(), old
    flat = sorted(p.stem for p in SOLVE_DIR.glob("*.py"))
    assert flat == ["__init__", "_moved"]   # the solve command lives in quaton_fast.cli.solve


#: layer of each sub-package: a module imports only from its own layer or lower ones
LAYER = {"models": 0, "formats": 1, "algorithms": 2, "applications": 3, "statistics": 3}


def _solve_imports(path: pathlib.Path) -> set:
    """Sub-packages of quaton_fast.solve that a module imports (module level and inside functions)."""
    pkg = ["quaton_fast", "solve", path.parent.name]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = pkg[:len(pkg) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            else:
                target = (node.module or "").split(".")
            if target[:2] == ["quaton_fast", "solve"] and len(target) > 2:
                out.add(target[2])
    return out


def test_sub_packages_import_only_their_own_layer_or_lower():
    offenders = []
    for path in sorted(SOLVE_DIR.glob("*/*.py")):
        own = LAYER[path.parent.name]
        for sub in _solve_imports(path):
            if sub not in LAYER or (sub != path.parent.name and LAYER[sub] >= own):
                offenders.append(f"{path.parent.name}/{path.name} imports quaton_fast.solve.{sub}")
    assert not offenders


def test_the_package_and_every_module_import_in_a_fresh_interpreter():
    mods = sorted(f"quaton_fast.solve.{p.parent.name}.{p.stem}" for p in SOLVE_DIR.glob("*/*.py")
                  if p.stem not in ("__init__", "dimod_sampler"))   # dimod_sampler needs the optional dimod
    code = f"import importlib\nfor m in {mods!r}:\n    importlib.import_module(m)\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    moved = {f"quaton_fast.solve.{sub}.{name}" for name, sub in _moved.MOVED.items() if name != "dimod_sampler"}
    assert moved <= set(mods), sorted(moved - set(mods))   # every moved module was imported (new ones too)
