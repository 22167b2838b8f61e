"""benchmarks/select_d2nn_config.py: the validation split never overlaps training, bad arguments
are refused with the argument's name (the script chose the configuration of the QuATON tables)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "select_d2nn_config.py"


@pytest.fixture(scope="module")
def select():
    spec = importlib.util.spec_from_file_location("select_d2nn_config", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_split_disjoint_fixed_and_nested(select):
    tr, va = select.split(60000, 5000, 8000)
    assert len(tr) == 8000 and len(va) == 5000
    assert not set(tr.tolist()) & set(va.tolist())
    tr2, va2 = select.split(60000, 10000, 50000)   # the largest split: still disjoint, covers all
    assert not set(tr2.tolist()) & set(va2.tolist()) and len(set(tr2.tolist()) | set(va2.tolist())) == 60000
    np.testing.assert_array_equal(va2[:5000], va)   # a larger --val extends the same held-out block
    np.testing.assert_array_equal(select.split(60000, 5000, 8000)[0], tr)  # deterministic


@pytest.mark.parametrize("argv, word", [(["--val", "0"], "--val"), (["--val", "10001"], "--val"),
                                        (["--train", "50001"], "--train"), (["--epochs", "0"], "--epochs"),
                                        (["--neurons", "32", "--object-size", "64"], "--object-size")])
def test_bad_arguments_name_the_argument(select, argv, word, capsys):
    with pytest.raises(SystemExit) as e:
        select.parse_args(argv)
    assert e.value.code == 2
    assert word in capsys.readouterr().err
