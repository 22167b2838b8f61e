"""CIFAR-10 from a user directory: a tiny fake set of pickle batches in tmp_path."""
import pickle

import numpy as np
import pytest

from quaton_fast.data import load_dataset
from quaton_fast.data.cifar10 import LUMA_WEIGHTS, load_cifar10


def _write_batch(path, count, seed, as_list=False):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, count)
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"fake", b"labels": labels.tolist() if as_list else labels,
                     b"data": data, b"filenames": [b"x.png"] * count}, fh)
    return data, labels


@pytest.fixture
def cifar_dir(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train = [_write_batch(folder / f"data_batch_{i}", 3, i, as_list=True) for i in range(1, 6)]
    test = _write_batch(folder / "test_batch", 4, 99)
    return folder, train, test


def test_grayscale_values_and_layout(cifar_dir):
    folder, train, (data, labels) = cifar_dir
    x, y = load_cifar10("test", folder)
    assert x.shape == (4, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    rgb = data.reshape(4, 3, 32, 32).astype(np.float64) / 255.0  # channel planes R, G, B (row-major)
    expect = sum(w * rgb[:, c] for c, w in enumerate(LUMA_WEIGHTS))
    np.testing.assert_allclose(x, expect, atol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_train_concatenates_five_batches_and_parent_dir_works(cifar_dir):
    folder, train, _ = cifar_dir
    x, y = load_dataset("cifar10", "train", root=folder.parent)
    assert x.shape == (15, 32, 32)
    np.testing.assert_array_equal(y, np.concatenate([t[1] for t in train]))


def test_missing_directory_and_batch_say_how_to_get_it(tmp_path, cifar_dir):
    with pytest.raises(FileNotFoundError, match="cs.toronto.edu"):
        load_cifar10("train", None)
    with pytest.raises(FileNotFoundError, match="cs.toronto.edu"):
        load_cifar10("train", tmp_path / "nowhere")
    folder = cifar_dir[0]
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar10("train", folder)


def test_corrupt_batches_name_the_file(cifar_dir):
    folder = cifar_dir[0]
    bad = folder / "test_batch"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="test_batch.*not a readable pickle"):
        load_cifar10("test", folder)
    with open(bad, "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match=r"test_batch.*\(N, 3072\)"):
        load_cifar10("test", folder)
    with open(bad, "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, fh)
    with pytest.raises(ValueError, match="test_batch.*outside 0..9"):
        load_cifar10("test", folder)
    bad.write_bytes(bad.read_bytes()[:-20])  # truncated
    with pytest.raises(ValueError, match="test_batch"):
        load_cifar10("test", folder)


def test_pickle_with_foreign_globals_is_refused(cifar_dir):
    folder = cifar_dir[0]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh)
    with pytest.raises(ValueError, match="builtins.print is not allowed"):
        load_cifar10("test", folder)
