"""The seed-spread table: grouping of records by method and seed, mean ± sample s.d., binomial
standard error, paired differences, the t-interval, the Markdown and the collector."""
import json
import math

import pytest

from quaton_fast.report import seed_table as st


def _rec(method, levels, seed, value, dataset="MNIST", n_test=10000):
    return {"task": "classification", "dataset": dataset, "method": method, "levels": levels,
            "metric": "accuracy", "value": value, "split": "test", "device": "cpu", "command": "x",
            "seed": seed, "n_test": n_test}


# three seeds; GS beats PSQ-LI on seed 0 only, PSQ-FT is the best schedule on seed 1
ACC = {"FP": (None, [0.88, 0.90, 0.89]), "GS": (4, [0.85, 0.80, 0.82]),
       "PSQ-FT": (4, [0.84, 0.86, 0.83]), "PSQ-LI": (4, [0.845, 0.82, 0.84])}


def _records():
    recs = [_rec(m, lv, s, v) for m, (lv, vals) in ACC.items() for s, v in enumerate(vals)]
    recs.append(_rec("GS", 16, 0, 0.5))            # other level count: ignored
    recs.append(_rec("GS", 4, 0, 0.1, "Fashion"))  # other dataset: ignored
    return recs


def test_accuracies_by_seed_filters_levels_and_dataset():
    acc = st.accuracies_by_seed(_records(), levels=4)
    assert list(acc) == ["FP", "GS", "PSQ-FT", "PSQ-LI"]
    assert acc["GS"] == {0: 0.85, 1: 0.80, 2: 0.82}
    assert acc["FP"] == {0: 0.88, 1: 0.90, 2: 0.89}


def test_accuracies_by_seed_rejects_conflicts_and_bad_fields():
    with pytest.raises(ValueError, match=r"accuracies_by_seed\(\): argument 'records' .*GS seed 0 twice"):
        st.accuracies_by_seed(_records() + [_rec("GS", 4, 0, 0.7)], levels=4)
    st.accuracies_by_seed(_records() + [_rec("GS", 4, 0, 0.85)], levels=4)  # the same run twice is fine
    bad = _rec("GS", 4, 0, 0.8)
    del bad["seed"]
    with pytest.raises(ValueError, match=r"argument 'records\[0\]\['seed'\]' must be an int"):
        st.accuracies_by_seed([bad], levels=4)
    with pytest.raises(ValueError, match=r"'records\[0\]\['value'\]' must be an accuracy in \[0, 1\]"):
        st.accuracies_by_seed([_rec("GS", 4, 0, 84.5)], levels=4)
    with pytest.raises(TypeError, match=r"'records\[0\]' must be a dict"):
        st.accuracies_by_seed(["GS"], levels=4)


def test_mean_sd_and_binomial_se():
    m, sd = st.mean_sd([1.0, 2.0, 4.0])
    assert m == pytest.approx(7 / 3)
    assert sd == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    assert st.mean_sd([0.5]) == (0.5, None)
    with pytest.raises(ValueError, match=r"mean_sd\(\): argument 'values'"):
        st.mean_sd([])
    assert st.binomial_se(0.85, 10000) == pytest.approx(0.0035707, rel=1e-4)
    with pytest.raises(ValueError, match=r"binomial_se\(\): argument 'n' must be an int >= 1"):
        st.binomial_se(0.5, 0)
    with pytest.raises(ValueError, match=r"binomial_se\(\): argument 'p' must be in \[0, 1\]"):
        st.binomial_se(85.0, 100)


def test_paired_differences_and_best_psq():
    acc = st.accuracies_by_seed(_records(), levels=4)
    d = st.paired_differences(acc, "PSQ-LI", "GS")
    assert d == pytest.approx({0: -0.005, 1: 0.02, 2: 0.02})
    assert st.best_psq(acc) == {0: ("PSQ-LI", 0.845), 1: ("PSQ-FT", 0.86), 2: ("PSQ-LI", 0.84)}
    assert st.paired_differences(acc, st.BEST_PSQ, "GS") == pytest.approx({0: -0.005, 1: 0.06, 2: 0.02})
    with pytest.raises(ValueError, match=r"paired_differences\(\): argument 'versus'"):
        st.paired_differences(acc, "PSQ-LI", "DSQ")
    with pytest.raises(ValueError, match=r"paired_differences\(\): argument 'method'"):
        st.paired_differences(acc, "PSQ-LT", "GS")


def test_t_interval_matches_the_t_quantile():
    lo, hi = st.t_interval([1.0, 2.0, 3.0])  # mean 2, s.d. 1, n 3: half-width t(0.975, 2) / sqrt(3)
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert (hi - lo) / 2 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert st.t_interval([1.0]) is None
    with pytest.raises(ValueError, match=r"t_interval\(\): argument 'confidence'"):
        st.t_interval([1.0, 2.0], confidence=95)


def test_markdown_rows():
    text = st.markdown(_records(), levels=4)
    assert "| method | seed 0 | seed 1 | seed 2 | mean ± s.d. | binomial s.e. of one run |" in text
    assert "| GS | 85.00 | 80.00 | 82.00 | 82.33 ± 2.52 | 0.38 |" in text
    assert "| FP (continuous phase) | 88.00 | 90.00 | 89.00 | 89.00 ± 1.00 | 0.31 |" in text
    assert "| PSQ-LI − GS | -0.50 | +2.00 | +2.00 | +1.17 ± 1.44 |" in text
    assert "| best PSQ − GS | -0.50 | +6.00 | +2.00 | +2.50 ± 3.28 |" in text
    assert "seed 1 PSQ-FT" in text
    with pytest.raises(ValueError, match=r"markdown\(\): argument 'records'"):
        st.markdown(_records(), levels=8)
    mixed = _records() + [_rec("DSQ", 4, 0, 0.8, n_test=100)]
    with pytest.raises(ValueError, match=r"one test-set size"):
        st.markdown(mixed, levels=4)


def test_collect_and_cli(tmp_path, capsys):
    root = tmp_path / "sweep1"
    root.mkdir()
    (root / "table.json").write_text(json.dumps([_rec("GS", 4, 1, 0.8)]))
    (root / "sweep.json").write_text(json.dumps({"command": "quaton-fast sweep --seed 1", "config": {}}))
    out = tmp_path / "seeds.json"
    assert st.main(["collect", str(root), "--machine", "test box", "--out", str(out)]) == 0
    recs = json.loads(out.read_text())
    assert recs == [{**_rec("GS", 4, 1, 0.8), "sweep_command": "quaton-fast sweep --seed 1", "machine": "test box"}]
    assert st.main(["collect", str(root), "--machine", "m", "--out", str(out), "--note", f"{root}=re-run"]) == 0
    assert json.loads(out.read_text())[0]["note"] == "re-run"
    with pytest.raises(ValueError, match=r"collect\(\): argument 'notes' must be keys among the roots"):
        st.collect([root], "m", {"elsewhere": "x"})
    assert st.main(["collect", str(root), "--machine", "m", "--out", str(out), "--note", "no-equals"]) == 2
    assert "argument '--note' must be ROOT=TEXT" in capsys.readouterr().err
    assert st.main(["collect", str(root), "--machine", "test box", "--out", str(out)]) == 0
    assert st.main(["collect", str(tmp_path / "missing"), "--machine", "m", "--out", str(out)]) == 2
    assert "without table.json" in capsys.readouterr().err
    seed0 = tmp_path / "seed0.json"
    seed0.write_text(json.dumps([_rec("GS", 4, 0, 0.85), _rec("PSQ-LI", 4, 0, 0.84), _rec("PSQ-LI", 4, 1, 0.83)]))
    assert st.main(["table", str(seed0), str(out)]) == 0
    text = capsys.readouterr().out
    assert "| GS | 85.00 | 80.00 | 82.50 ± 3.54 |" in text
    assert "| PSQ-LI − GS | -1.00 | +3.00 | +1.00 ± 2.83 |" in text
