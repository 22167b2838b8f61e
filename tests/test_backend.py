"""The native extension imports everywhere and says what it was built with."""
import subprocess
import sys

import quaton_fast


def test_build_info_reports_the_build():
    info = quaton_fast.build_info()
    assert info["native"] is True, info
    assert isinstance(info["cuda"], bool)
    assert info["version"] == quaton_fast.__version__
    if info["cuda"]:
        assert "90" in info["cuda_architectures"] and "80" in info["cuda_architectures"]
        assert info["cuda_compiler_version"]
    else:
        assert info["cuda_architectures"] == ""


def test_has_cuda_is_false_without_a_visible_gpu():
    info = quaton_fast.build_info()
    expected = bool(info["cuda"] and info.get("cuda_device_count", 0) > 0)
    assert quaton_fast.has_cuda() is expected


def test_import_does_not_initialise_cuda():
    # Importing the package and its torch layers must not create a CUDA context.
    code = ("import torch, quaton_fast, quaton_fast.nn, quaton_fast.functional;"
            "import sys; sys.exit(1 if torch.cuda.is_initialized() else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_cli_info_prints_json():
    out = subprocess.run([sys.executable, "-m", "quaton_fast.cli", "info"], capture_output=True, text=True, check=True)
    assert '"native": true' in out.stdout
