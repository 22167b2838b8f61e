"""aoc-train: epoch selection on validation, result records, and DDP (2 gloo ranks == 1 process)."""
import argparse
import json
import os
import socket

import numpy as np
import pytest
import torch

from quaton_fast.cli import aoc_train as cli_train
from quaton_fast.aoc.train import build_model, evaluate, train
from quaton_fast.data.mnist import regression_dataset


def _data(n=256):
    (xt, yt), (xv, yv) = regression_dataset("gauss", n_train=n, n_test=64, seed=3)
    return torch.from_numpy(xt), torch.from_numpy(yt), torch.from_numpy(xv), torch.from_numpy(yv)


def test_train_keeps_the_epoch_with_best_validation(tmp_path):
    xt, yt, xv, yv = _data()
    m = build_model("gauss", 256, seed=0)
    info = train(m, xt, yt, regression=True, epochs=4, lr=3e-2, batch=32, progress=False, x_val=xv, y_val=yv,
                 checkpoint=str(tmp_path / "ck.pt"))
    vals = [h["val"] for h in info["history"]]
    assert len(vals) == 4 and all("val_9bit" in h and h["time_s"] > 0 for h in info["history"])
    assert info["best_epoch"] == int(np.argmin(vals)) + 1
    assert evaluate(m, xv, yv, True) == pytest.approx(vals[info["best_epoch"] - 1], rel=1e-6)
    ck = torch.load(tmp_path / "ck.pt", weights_only=False)
    assert ck["epoch"] == 4 and len(ck["history"]) == 4 and ck["best"]["epoch"] == info["best_epoch"]


def test_cli_writes_val_and_test_records(tmp_path):
    res = tmp_path / "res.json"
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    args = p.parse_args(["--task", "sine", "--epochs", "1", "--max-steps", "20", "--no-progress",
                         "--out", str(tmp_path / "ck"), "--results", str(res)])
    assert p.parse_args(["--task", "sine"]).results is None       # default: OUT/aoc_train.json
    assert cli_train.run(args) == 0
    recs = json.loads(res.read_text())
    assert sorted((r["levels"], r["split"]) for r in recs) == [("9bit", "test"), ("9bit", "val"),
                                                               ("float", "test"), ("float", "val")]
    for r in recs:
        for key in ("task", "dataset", "method", "model", "metric", "value", "split", "device", "command",
                    "selected_epoch", "lr", "batch", "seed", "val_history"):
            assert key in r, key
        assert r["metric"] == "mse" and np.isfinite(r["value"]) and r["selected_epoch"] == 1
    val = next(r for r in recs if r["split"] == "val" and r["levels"] == "float")
    assert val["value"] == pytest.approx(val["val_history"][0]["val"], rel=1e-5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from quaton_fast import distributed as dist
    dist.init_from_env("gloo")
    try:
        xt, yt, xv, yv = _data(96)
        m = build_model("gauss", 256, seed=0)
        train(m, xt, yt, regression=True, epochs=1, lr=1e-2, batch=32, progress=False, x_val=xv, y_val=yv,
              checkpoint=os.path.join(out_dir, f"ck_rank{rank}.pt") if rank else os.path.join(out_dir, "ck.pt"))
        torch.save(m.state_dict(), os.path.join(out_dir, f"state{rank}.pt"))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_equal_one_process(tmp_path):
    """Each rank takes half of every global batch; DDP's averaged gradient equals the full-batch one."""
    import torch.multiprocessing as mp
    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    xt, yt, xv, yv = _data(96)
    m = build_model("gauss", 256, seed=0)
    train(m, xt, yt, regression=True, epochs=1, lr=1e-2, batch=32, progress=False, x_val=xv, y_val=yv)
    s0, s1 = (torch.load(tmp_path / f"state{r}.pt") for r in (0, 1))
    for k, v in m.state_dict().items():
        torch.testing.assert_close(s0[k], s1[k], rtol=0, atol=0)
        torch.testing.assert_close(s0[k], v, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "ck.pt").exists() and not (tmp_path / "ck_rank1.pt").exists()


def test_cosine_schedule_decays_to_zero_and_bad_schedule_raises(tmp_path):
    xt, yt, xv, yv = _data(64)
    m = build_model("gauss", 256, seed=0)
    train(m, xt, yt, regression=True, epochs=2, lr=1e-2, batch=32, progress=False, lr_schedule="cosine",
          checkpoint=str(tmp_path / "ck.pt"))
    ck = torch.load(tmp_path / "ck.pt", weights_only=False)
    assert ck["step"] == 4 and ck["sched"]["last_epoch"] == 4
    assert ck["opt"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="lr_schedule"):
        train(m, xt, yt, regression=True, lr_schedule="step", progress=False)


def test_cli_device_flag(tmp_path):
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    base = ["--task", "sine", "--epochs", "1", "--max-steps", "5", "--no-progress", "--out", str(tmp_path / "ck"),
            "--results", str(tmp_path / "res.json")]
    assert cli_train.run(p.parse_args(base + ["--device", "cpu"])) == 0
    assert json.loads((tmp_path / "res.json").read_text())[0]["device"].startswith("cpu (")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="aoc-train.*'device' is 'cuda'"):
            cli_train.run(p.parse_args(base + ["--device", "cuda"]))


# --- run files: settings fingerprint, resume only with the same settings (case rel02), option checks (rel11) ---

def _aoc(out, res, *extra):
    return ["aoc-train", "--task", "gauss", "--epochs", "1", "--max-steps", "6", "--no-progress", "--out", str(out),
            "--results", str(res), *extra]


def _test_record(res):
    return [r for r in json.loads(res.read_text()) if r["levels"] == "float" and r["split"] == "test"][-1]


def test_other_settings_in_the_same_out_never_reuse_a_checkpoint(tmp_path):
    from quaton_fast.cli import main
    a, b = tmp_path / "A", tmp_path / "B"
    assert main(_aoc(a, tmp_path / "r1.json", "--lr", "3e-4", "--batch", "64")) == 0
    r1 = _test_record(tmp_path / "r1.json")
    assert main(_aoc(a, tmp_path / "r2.json", "--lr", "0.1", "--batch", "16")) == 0   # same --out
    assert main(_aoc(b, tmp_path / "r3.json", "--lr", "0.1", "--batch", "16")) == 0   # fresh --out
    r2, r3 = _test_record(tmp_path / "r2.json"), _test_record(tmp_path / "r3.json")
    assert r2["value"] == r3["value"] and r2["value"] != r1["value"]      # trained with its own settings
    assert r2["resumed_after_epoch"] == 0 and r2["lr"] == 0.1
    assert r1["checkpoint"] != r2["checkpoint"] and os.path.isfile(r2["checkpoint"])
    ckpts = sorted(p.name for p in a.glob("*.pt"))
    assert len(ckpts) == 2 and all(n.startswith("gauss_256_seed0-") for n in ckpts)
    for n in ckpts:  # each checkpoint has its settings record; the record's fingerprint names the file
        rec = json.loads((a / n.replace(".pt", ".settings.json")).read_text())
        assert n == f"gauss_256_seed0-{rec['fingerprint'][:10]}.pt"
    # the same command again resumes its own (finished) checkpoint: same metric, marked as resumed
    assert main(_aoc(a, tmp_path / "r4.json", "--lr", "0.1", "--batch", "16")) == 0
    r4 = _test_record(tmp_path / "r4.json")
    assert r4["value"] == r2["value"] and r4["resumed_after_epoch"] == 1


def test_a_checkpoint_whose_settings_record_disagrees_is_refused(tmp_path, capsys):
    from quaton_fast.cli import main
    out = tmp_path / "A"
    assert main(_aoc(out, tmp_path / "r.json")) == 0
    rec_path = next(out.glob("*.settings.json"))
    rec = json.loads(rec_path.read_text())
    rec["settings"]["lr"] = 0.5                    # e.g. a file copied from another run
    rec_path.write_text(json.dumps(rec))
    capsys.readouterr()
    assert main(_aoc(out, tmp_path / "r.json")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quaton-fast aoc-train: error:") and "lr 0.5 -> 0.0003" in err[0]
    rec_path.unlink()                              # no record at all: refused too
    assert main(_aoc(out, tmp_path / "r.json")) == 2
    assert "no settings record" in capsys.readouterr().err


@pytest.mark.parametrize("extra, option", [
    (["--batch", "-5"], "--batch"), (["--batch", "0"], "--batch"), (["--epochs", "-1"], "--epochs"),
    (["--epochs", "0"], "--epochs"), (["--max-gain", "nan"], "--max-gain"), (["--max-gain", "inf"], "--max-gain"),
    (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"), (["--seed", "-1"], "--seed"),
    (["--max-steps", "0"], "--max-steps"), (["--threads", "0"], "--threads"), (["--batch", "2.5"], "--batch"),
])
def test_bad_numeric_options_are_refused_before_anything_runs(tmp_path, capsys, extra, option):
    from quaton_fast.cli import main
    res = tmp_path / "r.json"
    assert main(["aoc-train", "--task", "gauss", "--no-progress", "--out", str(tmp_path / "o"), "--results", str(res),
                 *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"quaton-fast aoc-train: error: argument {option}")
    assert not res.exists() and not (tmp_path / "o").exists()


def test_results_default_to_the_run_directory_not_the_working_directory(tmp_path, monkeypatch):
    """Issue 25 item 4: without --results the records go to OUT/aoc_train.json, nothing into the cwd."""
    from quaton_fast.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["aoc-train", "--task", "sine", "--epochs", "1", "--max-steps", "20", "--no-progress",
                 "--out", "ck"]) == 0
    assert len(json.loads((tmp_path / "ck" / "aoc_train.json").read_text())) == 4
    assert not (tmp_path / "docs").exists()


def test_missing_hardware_file_is_a_user_error(tmp_path, capsys):
    """Issue 25 item 6: a missing calibration file is one line naming --hardware, exit 2 (not 1)."""
    from quaton_fast.cli import main
    assert main(["aoc-train", "--task", "gauss", "--no-progress", "--out", str(tmp_path / "o"), "--results", "",
                 "--hardware", str(tmp_path / "nofile.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quaton-fast aoc-train: error: argument --hardware") \
        and "nofile.yaml" in err[0]
