"""Run ``ddp_cases`` under torchrun: ``torchrun --nproc_per_node 2 ddp_worker.py OUT CASE...``.

Every rank writes ``OUT/<case>.rank<r>.pt`` (test artefacts: each rank's own view of the model,
so the test can check that the ranks agree; a real training script writes from rank 0 only).
"""
from __future__ import annotations

import os
import sys

import torch

torch.set_num_threads(1)

from quaton_fast import distributed as qd  # noqa: E402

from ddp_cases import run_case  # noqa: E402  (this script's folder is on sys.path)


def main(out: str, names: list[str]) -> None:
    if not qd.init_from_env("gloo"):
        raise SystemExit("ddp_worker.py must be launched by torchrun")
    for name in names:
        result = run_case(name)
        path = os.path.join(out, f"{name}.rank{qd.rank()}.pt")
        torch.save(result, path + ".tmp")
        os.replace(path + ".tmp", path)
    qd.barrier()
    qd.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
