"""`quaton-fast train --task rbc`: a tiny QPI run through the CLI writes its records and masks."""
import json

from quaton_fast.cli import main


def _args(out, *extra):
    return ["train", "--task", "rbc", "--quantizer", "psq-ft", "--levels", "4", "--neurons", "16",
            "--layers", "2", "--epochs", "2", "--warmup", "1", "--batch", "8", "--lr", "0.2",
            "--train-limit", "32", "--test-limit", "8", "--no-progress", "--no-plots", "--device", "cpu",
            "--out", str(out), *extra]


def test_qpi_run_writes_ssim_and_mse(tmp_path):
    assert main(_args(tmp_path / "run")) in (0, None)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    metrics = {r["metric"]: r for r in result["records"]}
    assert set(metrics) == {"ssim", "mse"}
    assert -1.0 <= metrics["ssim"]["value"] <= 1.0 and metrics["mse"]["value"] >= 0.0
    assert metrics["ssim"]["method"] == "PSQ-FT" and metrics["ssim"]["levels"] == 4
    assert metrics["ssim"]["n_train"] == 32 and metrics["ssim"]["n_test"] == 8
    assert (tmp_path / "run" / "masks.npz").is_file()


def test_qpi_cli_init_from_and_resume_errors_are_clear(tmp_path, capsys):
    assert main(_args(tmp_path / "a", "--init-from", str(tmp_path / "nope.pt"))) == 2
    assert f"checkpoint {tmp_path / 'nope.pt'} does not exist" in capsys.readouterr().err
    assert main(_args(tmp_path / "b", "--epochs", "1", "--warmup", "0")) in (0, None)
    assert main(_args(tmp_path / "b", "--epochs", "1", "--warmup", "0")) == 2  # no silent overwrite
    assert "already holds a finished run" in capsys.readouterr().err
    assert main(_args(tmp_path / "b", "--epochs", "1", "--warmup", "0", "--batch", "4", "--resume")) == 2
    err = capsys.readouterr().err
    assert "finished run made with other settings" in err and "batch" in err
