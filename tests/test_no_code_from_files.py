"""No code runs from a data file and no header makes a reader allocate (issue 26): CIFAR batches and
checkpoints with a pickle payload that would create a marker file are refused before it runs; IDX
headers are checked before reading, a .gz is not inflated beyond its declared size."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from quaton_fast._safe_pickle import ArrayUnpickler
from quaton_fast.data.cifar10 import load_cifar10
from quaton_fast.data.mnist import MAX_IDX_BYTES, read_idx
from quaton_fast.train.checkpoint import load_checkpoint


class _Payload:
    """Unpickling this calls open(marker, 'w'): a stand-in for any code a tampered file would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_cifar_batch_with_code_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}
    with open(d / "test_batch", "wb") as fh:
        pickle.dump(good, fh, protocol=2)
    x, y = load_cifar10("test", tmp_path)
    assert x.shape == (2, 32, 32) and y.tolist() == [1, 2]
    with open(d / "test_batch", "wb") as fh:
        pickle.dump({b"data": _Payload(marker), b"labels": [1]}, fh)
    with pytest.raises(ValueError, match="test_batch.*open is not allowed"):
        load_cifar10("test", tmp_path)
    assert not marker.exists()


def test_pickle_cannot_ask_numpy_for_a_huge_array():
    evil = (b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            b"J\x00\x00\x00\x40\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R\x87R.")   # shape (2**30,) float64
    import io
    with pytest.raises(pickle.UnpicklingError, match="before any data"):
        ArrayUnpickler(io.BytesIO(evil)).load()


def test_checkpoint_with_code_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    p = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "config": {}, "x": _Payload(marker)}, p)
    with pytest.raises(ValueError, match="checkpoint.pt is not a readable checkpoint of ours.*weights_only"):
        load_checkpoint(p)
    assert not marker.exists()
    rng = np.random.default_rng(0)
    torch.save({"model": {"w": torch.ones(2)}, "config": {"a": 1}, "rng": {"numpy": np.random.get_state(),
                                                                            "x": rng.random(3)}}, p)
    assert torch.equal(load_checkpoint(p)["model"]["w"], torch.ones(2))   # our own content still loads


def _idx_header(shape):
    return bytes([0, 0, 8, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape)


def test_idx_header_checked_before_reading(tmp_path):
    p = tmp_path / "x-idx3-ubyte"
    p.write_bytes(_idx_header((60000, 28, 28)) + b"\0" * 10)
    with pytest.raises(ValueError, match="declares shape \\(60000, 28, 28\\) = 47040000 bytes, the file holds 10"):
        read_idx(p)
    g = tmp_path / "x-idx3-ubyte.gz"
    g.write_bytes(gzip.compress(_idx_header((2 ** 16, 2 ** 16, 2 ** 16))))
    with pytest.raises(ValueError, match="above the limit"):
        read_idx(g)
    # a small declared size with a large (compressible) payload is not inflated past it
    g.write_bytes(gzip.compress(_idx_header((4,)) + b"\0" * (64 << 20)))
    with pytest.raises(ValueError, match="expected 4 data bytes, found more"):
        read_idx(g)
    g.write_bytes(gzip.compress(_idx_header((2, 2)) + bytes([1, 2, 3, 4])))
    assert read_idx(g).tolist() == [[1, 2], [3, 4]] and MAX_IDX_BYTES >= 47040000
