"""Shared helper of the fuzz tests: bad input must raise an exception that names what was wrong.

Each public entry point, called with a malformed argument, must raise one of the project's clear
exceptions (ValueError, TypeError, FileNotFoundError, RuntimeError with context) whose message names
the argument (or the option, on the command line). Any other outcome fails the test: returning
normally, an exception type outside ``ACCEPTED``, or a message that names none of ``must_name``.
"""
from __future__ import annotations

from typing import Callable, Iterable

#: exception types a public entry point may raise for bad input
ACCEPTED = (ValueError, TypeError, FileNotFoundError, RuntimeError, OverflowError)


def assert_rejects(fn: Callable[[], object], must_name: str | Iterable[str]) -> BaseException:
    """Call ``fn``; it must raise an ACCEPTED exception whose message contains one of ``must_name``.

    Returns the exception (for further assertions)."""
    names = (must_name,) if isinstance(must_name, str) else tuple(must_name)
    try:
        out = fn()
    except ACCEPTED as exc:  # noqa: PERF203
        msg = str(exc)
        assert any(n in msg for n in names), (
            f"{type(exc).__name__} does not name any of {names}: {msg[:300]}")
        return exc
    raise AssertionError(f"bad input accepted (returned {type(out).__name__}); expected an error naming {names}")
