"""Run directories that remember their settings and admit one writer at a time.

Shared by ``quaton-fast train`` (one run per directory) and ``quaton-fast aoc-train`` (several runs,
one per ``<task>_<model>_seed<seed>`` stem, in one directory); bottom floor (imports only
:mod:`quaton_fast._atomic`).

- **Settings record** (:func:`check_settings`, :func:`write_settings`): a JSON file
  ``{"fingerprint": sha256 of the canonical settings, "settings": {...}, "command": ...}`` written
  atomically when a run starts. A run that continues existing files (resume) must have exactly
  these settings; otherwise :class:`RunSettingsMismatch` names every setting that differs, old and
  new value, on one line.
- **Lock** (:func:`run_lock`): ``fcntl.flock`` on a lock file, held for the whole run. The kernel
  releases it when the process dies (SIGKILL included), so a stale lock never blocks; a second
  trainer on the same directory gets :class:`RunDirectoryBusy` naming the directory and the
  holder's pid and host (written into the lock file). The lock file itself stays (removing it
  would race with a process that has it open); it is empty while no run holds it.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Iterator

from ._atomic import atomic_write_json
from ._safe_json import read_json

__all__ = ["RunSettingsMismatch", "RunDirectoryBusy", "settings_fingerprint", "read_settings", "settings_diff",
           "check_settings", "write_settings", "run_lock"]


class RunSettingsMismatch(ValueError):
    """Existing run files were made with other settings than this command's."""


class RunDirectoryBusy(RuntimeError):
    """Another live process holds the run's lock."""


def _canonical(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=repr)


def settings_fingerprint(settings: dict) -> str:
    """sha256 (hex) of the canonical JSON of ``settings`` (sorted keys; tuples as lists)."""
    return hashlib.sha256(_canonical(settings).encode("utf-8")).hexdigest()


def read_settings(path: str | os.PathLike) -> dict | None:
    """The ``settings`` of a record file, or None if there is none; ValueError if unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        rec = read_json("read_settings", path, nonfinite=False, expect=dict)
        settings = rec["settings"]
        if not isinstance(settings, dict):
            raise TypeError("'settings' is not an object")
    except (ValueError, KeyError, TypeError) as e:
        raise RunSettingsMismatch(f"settings record {path} is unreadable ({type(e).__name__}: {e}); "
                                  f"delete it or choose another --out") from None
    return settings


def settings_diff(old: dict, new: dict) -> list[str]:
    """'key old -> new' for every key whose value differs (JSON-normalised: tuples equal lists)."""
    norm = lambda v: json.loads(_canonical({"v": v}))["v"]  # noqa: E731
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = norm(old.get(k, "<unset>")), norm(new.get(k, "<unset>"))
        if a != b:
            out.append(f"{k} {a!r} -> {b!r}")
    return out


def check_settings(path: str | os.PathLike, settings: dict, *, func: str, what: str) -> None:
    """Raise :class:`RunSettingsMismatch` if the record at ``path`` exists with other settings.
    ``what`` names the existing files in the message (e.g. 'run directory runs/x')."""
    old = read_settings(path)
    if old is None:
        return
    diff = settings_diff(old, settings)
    if diff:
        raise RunSettingsMismatch(f"{func}(): {what} was made with other settings ({'; '.join(diff)}); "
                                  f"rerun with the recorded settings (see {path}) or choose another --out")


def write_settings(path: str | os.PathLike, settings: dict, command: str = "") -> None:
    """Write the settings record atomically."""
    atomic_write_json({"fingerprint": settings_fingerprint(settings), "settings": json.loads(_canonical(settings)),
                       "command": command}, path)


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if len(text) >= 2:
        return f"pid {text[0]} on host {text[1]}"
    return "pid unknown"


@contextlib.contextmanager
def run_lock(lock_path: str | os.PathLike, *, func: str, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing) for the ``with`` block; the lock
    file is removed when the block ends, so a finished run leaves no ``run.lock`` behind.

    Raises :class:`RunDirectoryBusy` at once (no waiting) if another process holds it. The file is
    unlinked while still locked, and a process that locked a file which is no longer at the path
    (it lost that race) opens the path again, so two holders never coexist. Where ``fcntl`` does not
    exist (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by subprocesses (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RunDirectoryBusy(f"{func}(): {what} is in use by another run ({holder}, lock file "
                                   f"{lock_path}); wait for it to finish or stop it") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)                 # locked a file its holder removed on release: take the new one
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)     # while still holding the lock (see the docstring)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
