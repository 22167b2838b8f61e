"""Reader fuzz targets (issue 26, item 7): the contract of tests/fuzz/coverage/targets.py on the
committed seed corpus, on deterministic mutations of it, and -- where atheris is installed (CI
installs it) -- a few seconds of coverage-guided fuzzing per target."""
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "coverage"))
import targets  # noqa: E402

CORPUS = HERE / "corpus"
SECONDS = float(os.environ.get("QF_FUZZ_SECONDS", "2"))
#: CI's short runs are reproducible: a fixed libFuzzer seed and input count (capped by 20 x SECONDS of
#: wall time); the long runs of docs/security.md explore at random
RUNS = int(os.environ.get("QF_FUZZ_RUNS", "0")) or int(1500 * SECONDS)


def _seeds(name):
    seeds = sorted(p for p in (CORPUS / name).iterdir() if p.is_file())
    assert seeds, f"no seed corpus for target {name}: run tests/fuzz/coverage/make_seeds.py"
    return seeds


REGRESSIONS = HERE / "regressions"


@pytest.mark.parametrize("path", sorted(p for p in REGRESSIONS.rglob("*") if p.is_file()), ids=lambda p: p.name)
def test_inputs_the_fuzzers_found_keep_the_contract(path, tmp_path):
    """Inputs that once broke the contract (tests/fuzz/regressions/<target>/): now refused cleanly."""
    targets.run_one(path.parent.name, path.read_bytes(), tmp_path)


def test_every_target_has_a_corpus_and_every_corpus_a_target():
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(targets.TARGETS)


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_seeds_are_read(name, tmp_path):
    """The seeds are valid files: each reader returns on them (no exception at all)."""
    for seed in _seeds(name):
        t = targets.TARGETS[name]
        p = tmp_path / (targets.INPUT_STEM + t.suffix)
        p.write_bytes(seed.read_bytes())
        t.read(p)


def _mutations(data: bytes, rng: random.Random, count: int):
    """Truncations, byte flips, digit bumps to huge values, inserted and deleted runs."""
    n = len(data)
    for k in (0, 1, n // 3, n // 2, n - 1):
        yield data[:k]
    for _ in range(count):
        b = bytearray(data)
        op = rng.randrange(5)
        i = rng.randrange(max(n, 1))
        if op == 0 and n:
            b[i] = rng.randrange(256)
        elif op == 1:
            b[i:i] = rng.choice([b"9" * 20, b"-", b"1e308", b"nan", b"\xff\xfe", b"\x00" * 8, b"_", b"(" * 50])
        elif op == 2 and n:
            del b[i:i + rng.randrange(1, 16)]
        elif op == 3 and n >= 8:
            j = rng.randrange(n - 4)
            b[j:j + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x7f\xff\xff\xff"])
        else:
            b = b + b[:rng.randrange(max(n, 1))]
        yield bytes(b)


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_mutated_seeds_keep_the_contract(name, tmp_path):
    rng = random.Random(f"qf-{name}")
    for seed in _seeds(name):
        for data in _mutations(seed.read_bytes(), rng, 40):
            targets.run_one(name, data, tmp_path)


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_coverage_guided_short_run(name, tmp_path):
    pytest.importorskip("atheris")
    out = tmp_path / "corpus"
    out.mkdir()
    cmd = [sys.executable, str(HERE / "coverage" / "run_target.py"), name, "-seed=1", f"-runs={RUNS}",
           f"-max_total_time={20 * SECONDS:g}",
           "-rss_limit_mb=3072", "-timeout=30", "-max_len=16384", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1",
           str(out), str(CORPUS / name)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    crashes = sorted(tmp_path.glob("crash-*")) + sorted(tmp_path.glob("oom-*")) + sorted(tmp_path.glob("timeout-*"))
    assert r.returncode == 0 and not crashes, (
        f"{name}: fuzzing found an input breaking the contract ({[c.name for c in crashes]}); "
        f"reproduce with python tests/fuzz/coverage/run_target.py {name} <file>\n{r.stderr[-4000:]}")
    assert "Done" in r.stderr or "stat::number_of_executed_units" in r.stderr, r.stderr[-2000:]


def _zip_flag_encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' bit of every member (local headers and central directory)."""
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = b.find(sig)
        while i >= 0:
            b[i + off] |= 1
            i = b.find(sig, i + 4)
    return bytes(b)


@pytest.mark.parametrize("name", ["masks_npz", "sk"])
def test_found_by_fuzzing_encrypted_npz_member(name, tmp_path):
    """atheris found an .npz whose member is flagged encrypted: zipfile raised RuntimeError."""
    data = _zip_flag_encrypted(_seeds(name)[0].read_bytes())
    t = targets.TARGETS[name]
    p = tmp_path / (targets.INPUT_STEM + t.suffix)
    p.write_bytes(data)
    with pytest.raises(ValueError, match="fuzz_input.npz.*RuntimeError.*encrypted"):
        t.read(p)
