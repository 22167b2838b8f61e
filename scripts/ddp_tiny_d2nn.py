"""Train a small PSQ-LT D2NN for a few steps on the real 5k MNIST subset, in one process or under
torchrun (DDP), writing from rank 0 only. The smallest complete example of the conventions in
``quaton_fast.distributed``; ``tests/distributed/test_rank0_writes.py`` runs it.

    python scripts/ddp_tiny_d2nn.py --out runs/ddp_tiny                                  # 1 process
    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 scripts/ddp_tiny_d2nn.py --out runs/ddp_tiny

Writes (rank 0 only, atomically): ``OUT/checkpoint.pt`` (model state, step, world size) and
``OUT/result.json`` (loss per step, world size, the writer's rank). Every rank prints one line
``rank R/W: ...`` with the files it wrote and a checksum of its parameters; at the end every rank
checks that rank 0's checkpoint holds exactly its own parameters.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import torch

from quaton_fast import distributed as qd
from quaton_fast._atomic import atomic_write
from quaton_fast import quant
from quaton_fast.data.mnist_subset import load_mnist_subset
from quaton_fast.nn import D2NN


def _atomic_write(path: str, write) -> None:
    atomic_write(path, write)


def _checksum(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (rank 0 writes here)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32, help="GLOBAL batch size (split over the ranks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    args = ap.parse_args(argv)

    distributed = qd.init_from_env()  # gloo on CPU, nccl with GPUs; False outside torchrun
    device = torch.device(f"cuda:{torch.cuda.current_device()}" if distributed and torch.cuda.is_available()
                          else "cpu")
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)  # the same model and batch order on every rank
    images, labels = load_mnist_subset()
    images, labels = torch.from_numpy(images[:1024]), torch.from_numpy(labels[:1024])
    model = D2NN(n=32, dx=316.4e-9, wavelength=632.8e-9, num_layers=3, z_in=3.373e-6, dz=3.373e-6,
                 z_out=5.904e-6, object_size=16, detector_size=3, seed=args.seed,
                 quantizer=quant.PSQ(4, quant.LearnableTemperature())).to(device=device, dtype=dtype)
    ddp = qd.wrap_ddp(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    order = torch.Generator().manual_seed(args.seed)
    losses = []
    for step in range(args.steps):
        batch = torch.randint(0, len(images), (args.batch,), generator=order)  # same on every rank
        mine = qd.shard_batch(batch)
        x = model.encode(images[mine].to(device))  # (b, 32, 32) complex64
        x = x.to(torch.complex128) if dtype == torch.float64 else x
        loss = torch.nn.functional.cross_entropy(ddp(x), labels[mine].to(device)) * qd.shard_loss_scale(args.batch)
        loss = loss + model.regularization()
        opt.zero_grad()
        loss.backward()
        opt.step()
        # the global-batch loss for the log: average of the (scaled) shard losses over the ranks
        logged = loss.detach().clone()
        if distributed:
            torch.distributed.all_reduce(logged)
            logged /= qd.world_size()
        losses.append(float(logged))

    written = []
    out = args.out
    if qd.is_main_process():
        os.makedirs(out, exist_ok=True)
        state = {"model": model.state_dict(), "step": args.steps, "world_size": qd.world_size()}
        _atomic_write(os.path.join(out, "checkpoint.pt"), lambda fh: torch.save(state, fh))
        record = {"world_size": qd.world_size(), "written_by_rank": qd.rank(), "global_batch": args.batch,
                  "steps": args.steps, "dtype": args.dtype, "loss_per_step": losses,
                  "parameter_checksum": _checksum(model)}
        _atomic_write(os.path.join(out, "result.json"), lambda fh: fh.write(json.dumps(record, indent=1).encode()))
        written = ["checkpoint.pt", "result.json"]
    qd.barrier()  # rank 0's files exist before anyone reads them
    saved = torch.load(os.path.join(out, "checkpoint.pt"), map_location=device, weights_only=True)["model"]
    same = all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    line = (f"rank {qd.rank()}/{qd.world_size()}: wrote {written}; parameters {_checksum(model)}; "
            f"rank 0's checkpoint {'matches' if same else 'DIFFERS FROM'} my parameters; "
            f"losses {[round(v, 4) for v in losses]}\n")
    sys.stdout.write(line)  # one write: the ranks share the launcher's stdout
    sys.stdout.flush()
    qd.barrier()
    qd.shutdown()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
