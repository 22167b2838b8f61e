"""`quaton-fast info`: what the native extension was built with (JSON on stdout)."""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .. import build_info
    print(json.dumps(build_info(), indent=2))
    return 0
