"""Every fenced code block of README.md and docs/*.md is exercised (issue 25, "docs that run").

Convention (for whoever writes docs; also in docs/writing_docs.md):

* ```` ```python ```` blocks run **verbatim**, each in a fresh interpreter. The blocks of one markdown
  file run in order in ONE temporary directory (a file written by an earlier block, e.g. a run
  directory, is there for a later one), with ``OMP_NUM_THREADS=1`` and no GPU required.
* ```` ```bash ```` / ```` ```sh ```` / ```` ```console ```` blocks are executed by bash in a **dry run**:
  ``quaton-fast``, ``python``, ``torchrun``, ``pip``, ... are shell functions that record their
  arguments, so shell variables, loops and line continuations work as written, and then every
  ``quaton-fast ...`` command (also ``python -m quaton_fast.cli`` / ``torchrun -m quaton_fast.cli``)
  must parse with the real argument parser, every script or module named must exist, every repo path
  read (``benchmarks/...``, ``tests/...``, ``scripts/...``) must exist, ``python -c`` code must compile,
  and a command the dry run does not know fails the test. A bash block preceded by
  ``<!-- docs-test: run -->`` is then also executed for real (short commands only).
* ```` ```text ```` blocks (outputs, templates with placeholders) are not code and not run.
  Fences without a language are only tolerated in docs/results.md (the results record).
* ``<!-- docs-test: file (NAME) -->`` before a python block: it is saved as NAME in the directory
  (then run as ``python NAME``), so a shell block of the same file may name the script.
* ``<!-- docs-test: skip (reason) -->`` on the line before a block: not executed (a python block is
  still compiled, a shell block still dry-run); the reason shows in pytest's summary, and the
  expected set of skips is pinned in ``EXPECTED_SKIPS`` below so none is added silently.

Adjust ``_parser_builder`` if the command line's parser moves (it looks for ``build_parser`` in
``quaton_fast.cli`` and, when that is a package, in its submodules).
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: fences without a language are tolerated only here (the coordinator-owned results record)
UNLABELLED_OK: set[str] = set()
LANGS = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "console": "shell",
         "shell": "shell", "text": "text", "": "text"}

#: every skipped block, pinned: (file, first line of the block's code) -> reason  (see module docstring)
EXPECTED_SKIPS = {
    ("docs/gpu.md", "torch.cuda.set_sync_debug_mode(\"error\")   # any synchronising CUDA call raises"):
        "needs a CUDA GPU",
    ("docs/gpu.md", "import torch, quaton_fast as qf"): "needs a CUDA GPU (CUDA graph capture)",
}
PY_TIMEOUT_S = 180

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<lang>[\w+-]*)[ \t]*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|run|file)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")


@dataclass
class Block:
    file: str           # repo-relative
    line: int           # 1-based line of the opening fence
    lang: str           # the fence's language tag
    kind: str           # python | shell | text
    code: str
    directive: str      # "" | "skip" | "run"
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        close = re.compile(rf"^[ \t]*{m['ticks']}`*[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        assert j < len(lines), f"{rel}:{i + 1}: unclosed code fence"
        indent = len(m["indent"])
        code = "\n".join(ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines[i + 1:j])
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        d = _DIRECTIVE.match(lines[k]) if k >= 0 else None
        lang = m["lang"].lower()
        out.append(Block(rel, i + 1, lang, LANGS.get(lang, "?"), code + "\n",
                         d["kind"] if d else "", (d["reason"] or "").strip() if d else ""))
        i = j + 1
    return out


BLOCKS = [b for f in DOC_FILES for b in parse_blocks(f)]


def _id(b: Block) -> str:
    return f"{b.file}:{b.line}:{b.lang or 'plain'}"


# ---------------------------------------------------------------------------------- the conventions
def test_blocks_follow_the_conventions():
    problems = []
    for b in BLOCKS:
        if b.kind == "?":
            problems.append(f"{b.where}: unknown fence language {b.lang!r} (python, bash, sh, console, text)")
        if b.lang == "" and b.file not in UNLABELLED_OK:
            problems.append(f"{b.where}: a fence without a language; say ```python, ```bash or ```text")
        if b.directive == "skip" and not b.reason:
            problems.append(f"{b.where}: '<!-- docs-test: skip -->' needs a reason: skip (why)")
        if b.directive == "file" and (b.kind != "python" or not re.fullmatch(r"[\w.-]+\.py", b.reason)):
            problems.append(f"{b.where}: '<!-- docs-test: file (NAME.py) -->' applies to python blocks")
        if b.directive == "run" and b.kind != "shell":
            problems.append(f"{b.where}: '<!-- docs-test: run -->' applies to shell blocks only")
    assert not problems, "\n".join(problems)


def test_skips_are_the_pinned_few():
    got = {(b.file, b.code.split("\n")[0]): b.reason for b in BLOCKS if b.directive == "skip"}
    listing = "\n".join(f"  {f}: {first!r}: {why}" for (f, first), why in sorted(got.items()))
    print(f"{len(got)} docs blocks skipped:\n{listing}")
    assert set(got) == set(EXPECTED_SKIPS), f"skipped blocks changed; update EXPECTED_SKIPS:\n{listing}"
    for key, why in EXPECTED_SKIPS.items():
        assert why in got[key], f"{key}: reason {got[key]!r} does not state {why!r}"


def test_every_doc_has_been_scanned():
    """A guard against a broken fence regex: the README has python and bash blocks."""
    readme = [b for b in BLOCKS if b.file == "README.md"]
    assert {b.kind for b in readme} >= {"python", "shell"}
    assert sum(b.kind in ("python", "shell") for b in BLOCKS) >= 20


# ------------------------------------------------------------------------------------ shared temp dirs
@pytest.fixture(scope="module")
def doc_dirs(tmp_path_factory):
    cache: dict[str, Path] = {}

    def get(file: str) -> Path:
        if file not in cache:
            cache[file] = tmp_path_factory.mktemp(re.sub(r"\W", "_", file))
        return cache[file]
    return get


def _env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    return env


# ------------------------------------------------------------------------------------------- python
def _run_python(block: Block, cwd: Path) -> None:
    compile(block.code, block.where, "exec")        # a skipped block must still be valid Python
    if block.directive == "skip":
        pytest.skip(f"{block.where}: {block.reason}")
    script = cwd / (block.reason if block.directive == "file" else f"_docs_block_{block.line}.py")
    script.write_text(block.code, encoding="utf-8")
    r = subprocess.run([sys.executable, script.name], cwd=cwd, env=_env(), capture_output=True, text=True,
                       timeout=PY_TIMEOUT_S)
    if block.directive != "file":
        script.unlink()
    assert r.returncode == 0, f"{block.where} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


# -------------------------------------------------------------------------------------------- shell
#: commands the dry run records (shell functions); anything else that is not a bash builtin fails
SHIMS = ("quaton-fast", "python", "python3", "torchrun", "bash", "sh", "pip", "g++", "nvcc", "sphinx-build",
         "apt-get", ".", "source")
#: options whose value is a path the command WRITES (need not exist)
OUTPUT_OPTS = {"--out", "-o", "--json", "--figure", "--results", "--table-json", "--table-md", "--root",
               "--snapshot", "--checkpoint-out"}
REPO_DIRS = ("scripts/", "benchmarks/", "tests/", "cuda/", "cpp/", "examples/", "docs/", "python/")

_PRELUDE = r"""
__docs_log() { printf '%s\037' "$@" >> "$DOCS_TEST_LOG"; printf '\036' >> "$DOCS_TEST_LOG"; return 0; }
command_not_found_handle() { __docs_log "?unknown" "$@"; return 0; }
""" + "".join(f"{name}() {{ __docs_log {shlex.quote(name)} \"$@\"; }}\n" for name in SHIMS) + "PATH=/nonexistent-docs-test\n"


def _parser_builder():
    """The `quaton-fast` parser factory: ``quaton_fast.cli.build_parser`` (a module today; if the CLI
    becomes a package, the first submodule defining ``build_parser``)."""
    cli = importlib.import_module("quaton_fast.cli")
    if hasattr(cli, "build_parser"):
        return cli.build_parser
    for info in pkgutil.walk_packages(getattr(cli, "__path__", []), prefix="quaton_fast.cli."):
        mod = importlib.import_module(info.name)
        if hasattr(mod, "build_parser"):
            return mod.build_parser
    raise AssertionError("no build_parser in quaton_fast.cli: adjust tests/test_docs_run.py::_parser_builder")


def _check_quaton_fast(argv: list[str]) -> str | None:
    parser = _parser_builder()()
    try:
        parser.parse_args(argv)
    except SystemExit as e:           # --help / --version exit 0; argparse's own errors exit 2
        return None if e.code in (0, None) else f"exit {e.code}"
    except Exception as e:            # the project's parser raises its usage error instead of exiting
        return f"{type(e).__name__}: {e}"
    return None


def _paths_read(args: list[str]) -> list[str]:
    """Repo paths among the arguments that are read (not the values of output options)."""
    out, skip_next = [], False
    for a in args:
        if skip_next:
            skip_next = False
            continue
        if a in OUTPUT_OPTS:
            skip_next = True
            continue
        value = a.split("=", 1)[1] if a.startswith("-") and "=" in a else a
        if a.startswith("-") and "=" in a and a.split("=", 1)[0] in OUTPUT_OPTS:
            continue
        if value.startswith(REPO_DIRS):
            out.append(value)
    return out


#: scripts a markdown file defines itself (``<!-- docs-test: file (NAME) -->``), by file
DECLARED = {f: {b.reason for b in BLOCKS if b.file == f and b.directive == "file"} for f in {b.file for b in BLOCKS}}


def _exists(path: str, cwd: Path, doc: str = "") -> bool:
    return (ROOT / path).exists() or (cwd / path).exists() or path in DECLARED.get(doc, ())


def _check_call(call: list[str], cwd: Path, doc: str) -> str | None:
    name, args = call[0], call[1:]
    if name == "?unknown":
        return f"command {args[0]!r} is not known to the docs dry run (tests/test_docs_run.py SHIMS)"
    for p in _paths_read(args):
        if not _exists(p, cwd, doc):
            return f"{p!r} does not exist in the repository"
    if name == "quaton-fast":
        return _check_quaton_fast(args)
    if name in ("python", "python3", "torchrun"):
        if "-c" in args and name != "torchrun":
            code = args[args.index("-c") + 1]
            try:
                ast.parse(code)
            except SyntaxError as e:
                return f"python -c code does not compile: {e}"
            return None
        if "-m" in args:
            mod = args[args.index("-m") + 1]
            if mod == "quaton_fast.cli":
                return _check_quaton_fast(args[args.index("-m") + 2:])
            return None if importlib.util.find_spec(mod.split(".")[0]) and importlib.util.find_spec(mod) \
                else f"module {mod!r} not importable"
        scripts = [a for a in args if a.endswith(".py")]
        if not scripts:
            return f"{name}: no script or -m module"
        return None if _exists(scripts[0], cwd, doc) else f"script {scripts[0]!r} does not exist"
    if name in ("bash", "sh", ".", "source"):
        script = next((a for a in args if not a.startswith("-")), None)
        if script is None:
            return f"{name}: no script"
        if script.startswith(".venv/"):      # made by scripts/demo.sh / scripts/test.sh
            return None
        return None if _exists(script, cwd, doc) else f"script {script!r} does not exist"
    if name in ("g++", "nvcc"):
        srcs = [a for a in args if a.endswith((".cpp", ".cu"))]
        incs = [a[2:] for a in args if a.startswith("-I") and len(a) > 2]
        missing = [s for s in srcs + incs if not _exists(s, cwd)]
        return f"missing {missing}" if missing else None
    if name == "sphinx-build":
        src = [a for a in args if not a.startswith("-") and a not in ("html",)]
        return None if src and _exists(src[0], cwd) else f"sphinx-build source {src[:1]} missing"
    return None                       # pip / apt-get: installs, nothing to check here


def _dry_run(block: Block, cwd: Path) -> list[str]:
    log = cwd / "_docs_dry_run.log"
    log.write_text("")
    script = cwd / "_docs_dry_run.sh"
    script.write_text(_PRELUDE + block.code, encoding="utf-8")
    env = {"DOCS_TEST_LOG": str(log), "HOME": os.environ.get("HOME", "/tmp"), "LC_ALL": "C.UTF-8"}
    r = subprocess.run(["/bin/bash", "--noprofile", "--norc", script.name], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    problems = []
    if r.returncode != 0 or r.stderr.strip():
        problems.append(f"bash: exit {r.returncode}: {r.stderr.strip()[-2000:]}")
    calls = [rec.split("\x1f")[:-1] for rec in log.read_text().split("\x1e") if rec]
    if not calls:
        problems.append("no command found in the block")
    for call in calls:
        why = _check_call(call, cwd, block.file)
        if why:
            problems.append(f"{shlex.join(call)}\n    -> {why}")
    script.unlink()
    log.unlink()
    return problems


def _run_shell(block: Block, cwd: Path) -> None:
    problems = _dry_run(block, cwd)
    assert not problems, f"{block.where}:\n" + "\n".join(problems)
    if block.directive == "skip":
        pytest.skip(f"{block.where}: {block.reason} (dry run passed)")
    if block.directive == "run":
        r = subprocess.run(["/bin/bash", "-e", "-o", "pipefail", "-c", block.code], cwd=cwd, env=_env(),
                           capture_output=True, text=True, timeout=PY_TIMEOUT_S)
        assert r.returncode == 0, f"{block.where} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


# ---------------------------------------------------------------------------- every block, in file order
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind in ("python", "shell")], ids=_id)
def test_block(block: Block, doc_dirs):
    """One block; the blocks of a file run in their order in one directory (module docstring)."""
    (_run_python if block.kind == "python" else _run_shell)(block, doc_dirs(block.file))


def test_dry_run_catches_broken_commands(tmp_path):
    """The dry run is a real check: a wrong option, an unknown command, a missing script or module, a
    repo path that is not there and python -c code that does not compile are each reported."""
    bad = Block("docs/x.md", 1, "bash", "shell", "\n".join([
        "H=model.yaml",
        "quaton-fast aoc-train --task mnist --hardware $H --no-such-option",
        "quaton-fast solve G1.txt --time 10s --device gpu",
        "frobnicate --all",
        "python benchmarks/no_such_bench.py --quick",
        "OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m quaton_fast.cli train --task nosuch",
        "python -m quaton_fast.no_such_module",
        "python -c 'print(1'",
        "quaton-fast export tests/no_such_dir/masks.npz --out fab/",
    ]) + "\n", "", "")
    problems = _dry_run(bad, tmp_path)
    text = "\n".join(problems)
    assert len(problems) == 8, text
    for needle in ("--no-such-option", "gpu", "'frobnicate'", "no_such_bench.py", "nosuch",
                   "quaton_fast.no_such_module", "does not compile", "tests/no_such_dir/masks.npz"):
        assert needle in text, (needle, text)
    good = Block("docs/x.md", 1, "bash", "shell", "for t in mnist fashion; do\n"
                 "  quaton-fast aoc-train --task $t --model 256 \\\n      --eval-hardware ideal  # comment\n"
                 "done\nbash scripts/test.sh\n", "", "")
    assert _dry_run(good, tmp_path) == []
