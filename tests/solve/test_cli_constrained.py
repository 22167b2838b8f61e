"""`quaton-fast solve` on QPLIB/GAMS files reports in the file's own sense and variables (bug05)."""
import json

import numpy as np
import pytest

from quaton_fast.cli import main

QMAX = """QMAX_TEST
QBN
maximize
3
4
1 1 2.0
2 1 -3.0
3 2 4.0
3 3 -6.0
0.5
1
2 -1.0
7.0
1.0E+30
0
0
0
0
0
"""
# brute force (the file's objective 1/2 z^T H z + g^T z + 7): max 8.5 at z = (1, 0, 0)

GMS = """Variables  objvar,b1,b2,b3;
Binary Variables  b1,b2,b3;
Equations  e1,e2;
e1.. b1 + b2 + b3 =G= 2;
e2.. 3*b1*b2 - 2*b2*b3 + b1 - 4*b3 + 10 - objvar =E= 0;
Model m / all /;
Solve m using MIQCP minimizing objvar;
"""
# feasible: at least two ones; objective: (1,1,0): 14, (1,0,1): 7, (0,1,1): 4, (1,1,1): 8 -> min 4 at (0,1,1)


def run(tmp_path, name, text, *extra):
    p = tmp_path / name
    p.write_text(text)
    js = tmp_path / "out.json"
    rc = main(["solve", str(p), "--time", "0.3s", "--no-progress", "--json", str(js), *extra])
    return rc, json.loads(js.read_text())


def test_maximize_file_target_and_state_in_files_terms(tmp_path, capsys):
    rc, res = run(tmp_path, "m.qplib", QMAX, "--target", "100")
    out = capsys.readouterr().out
    assert rc == 0 and res["time_to_target"] is None          # 100 is unreachable in the file's sense
    assert res["objective"] == pytest.approx(8.5) and res["sense"] == "maximize"
    assert res["best_state"] == [1.0, 0.0, 0.0] and res["solution"] == [1.0, 0.0, 0.0]
    assert "objective (maximize): 8.5" in out
    rc, res = run(tmp_path, "m.qplib", QMAX, "--target", "8.5")
    assert res["time_to_target"] is not None


def test_gams_file_gap_from_prop_and_best(tmp_path, capsys):
    (tmp_path / "g.prop").write_text("OBJSENSE = min\nSOLOBJVALUE       = 4\n")
    rc, res = run(tmp_path, "g.gms", GMS)
    assert rc == 0 and res["feasible"] and res["objective"] == pytest.approx(4.0)
    assert res["best_known"] == 4.0 and res["gap"] == pytest.approx(0.0) and res["max_violation"] == 0.0
    assert res["solution"] == [0.0, 1.0, 1.0] and res["variables"] == ["b1", "b2", "b3"]
    rc, res = run(tmp_path, "g.gms", GMS, "--best", "3")
    assert res["gap"] == pytest.approx(1 / 3)
    out = capsys.readouterr().out
    assert "gap: 33.33 %" in out
    assert res["phase"] in ("construction", "dynamics", "repair", "fallback", "fallback-start")
    assert f"phase: {res['phase']}" in out


def test_infeasible_file_says_so(tmp_path, capsys):
    rc, res = run(tmp_path, "inf.gms", GMS.replace("=G= 2", "=G= 4"))
    out = capsys.readouterr().out
    assert rc == 2 and not res["feasible"] and res["objective"] is None and res["solution"] is None
    assert "NO FEASIBLE SOLUTION FOUND" in out
    # the construction finds nothing, so HiGHS runs at once and proves that nothing exists
    assert res["phase"] == "none" and res["fallback"]["status"] == "infeasible"
    assert "NO feasible point (proved by HiGHS)" in out
