"""Atomic file writes, the one implementation every writer of the package uses.

A file is written to a temporary name in the destination directory, flushed to disk, given the
permissions a plain ``open()`` would have given it (``mkstemp`` creates files 0600), then moved
into place with ``os.replace``: a reader sees the old file or the new one, never a partial one,
and an interrupted write leaves the old file untouched.

Temporary names: ``.<name>.qftmp-<host>-<pid>.<random><suffix>`` (e.g.
``.checkpoint.pt.qftmp-node1-4242.k3j9x_2a.tmp``). A writer that is killed mid-write (SIGKILL, power
loss) cannot remove its temporary file; the next atomic write into the same directory (and
:func:`clean_stale_temporaries`, which the training runs call on their run directory at start)
removes every file of this pattern whose writer is gone: same host and the pid no longer runs,
or the pid is this process's own but the file is not one it is writing now (a pid reused after a
restart). Files written by another host are never touched (its pids mean nothing here), nor any
file that does not match the pattern.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_path", "atomic_write", "atomic_write_text", "atomic_write_json", "atomic_torch_save",
           "clean_stale_temporaries"]

_MARK = "qftmp"
#: .<target>.qftmp-<host>-<pid>.<8 mkstemp characters><suffix>
_TEMP_RE = re.compile(r"^\.(?P<target>.+)\." + _MARK + r"-(?P<host>[A-Za-z0-9-]*)-(?P<pid>[0-9]+)\."
                      r"[A-Za-z0-9_]{8}(?P<suffix>\.[A-Za-z0-9_]*)?$")
_ACTIVE: set[str] = set()          # temporaries this process is writing now (absolute paths)
_ACTIVE_LOCK = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:32] or "host"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True          # cannot tell: keep the file
    return True


def clean_stale_temporaries(directory: str | os.PathLike, recursive: bool = False) -> list[str]:
    """Remove the temporary files of interrupted atomic writes in ``directory`` (and, if
    ``recursive``, its subdirectories). Only names of this module's pattern written on this host
    by a process that no longer runs (or by this process's pid but not in flight now) are
    removed. Returns the removed paths. Never raises for a missing directory or a file that
    vanished meanwhile."""
    directory = Path(directory)
    host, me = _host(), os.getpid()
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if recursive and entry.is_dir(follow_symlinks=False):
            removed += clean_stale_temporaries(entry.path, recursive=True)
            continue
        m = _TEMP_RE.match(entry.name)
        if m is None or m.group("host") != host:
            continue
        pid = int(m.group("pid"))
        path = os.path.abspath(entry.path)
        with _ACTIVE_LOCK:
            in_flight = path in _ACTIVE
        if in_flight or (pid != me and _pid_running(pid)):
            continue
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path next to ``path``; on normal exit it replaces ``path``.

    For writers that need a file name (``savefig``, ``np.savez``); ``suffix`` keeps the extension
    such writers look at (e.g. '.png', '.npz')."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_MARK}-{_host()}-{os.getpid()}.",
                               suffix=suffix)
    os.close(fd)
    tmp = os.path.abspath(tmp)
    with _ACTIVE_LOCK:
        _ACTIVE.add(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        with _ACTIVE_LOCK:
            _ACTIVE.discard(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """Call ``write(fh)`` on a binary file handle and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_json(obj: Any, path: str | os.PathLike, indent: int | None = 2) -> None:
    atomic_write_text(json.dumps(obj, indent=indent) + "\n", path)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same directory, then ``os.replace``."""
    import torch
    atomic_write(path, lambda fh: torch.save(obj, fh))
