"""train_qpi under two gloo ranks (the torchrun layout) equals the single-process run."""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from quaton_fast import distributed as dist
from quaton_fast import quant
from quaton_fast.data import load_dataset
from quaton_fast.nn import D2NN
from quaton_fast.train.qpi import train_qpi


def _setup():
    torch.set_num_threads(1)
    data = [torch.from_numpy(a) for a in load_dataset("rbc", "train", count=16, size=16, radius_px=(2, 4),
                                                      cells_per_field=(1, 2))]
    model = D2NN(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=2, z_in=3.373e-6, dz=3.373e-6,
                 z_out=5.904e-6, readout="qpi", quantizer=quant.FullPrecision(), seed=0, init="zeros")
    return model, (data[0], data[1]), (data[0][:4], data[1][:4])


def _train(model, train, test):
    return train_qpi(model, train, test, epochs=2, warmup_epochs=1, quantizer=quant.PSQ(4), loss="mse",
                     batch_size=8, lr=0.1, progress=False)


def _worker(rank, world, port, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    assert dist.init_from_env("gloo")
    try:
        model, train, test = _setup()
        res = _train(model, train, test)
        if dist.is_main_process():
            torch.save({"state": model.state_dict(), "ssim": res.test_ssim, "loss": res.history[-1]["loss"]}, out)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed not available")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model, train, test = _setup()
    res = _train(model, train, test)  # first, so the forked ranks inherit torch's lazily imported modules
    out = tmp_path / "rank0.pt"
    mp.start_processes(_worker, args=(2, port, str(out)), nprocs=2, join=True, start_method="fork")
    got = torch.load(out)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(got["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert got["ssim"] == pytest.approx(res.test_ssim, abs=1e-5)
    assert got["loss"] == pytest.approx(res.history[-1]["loss"], rel=1e-4)
