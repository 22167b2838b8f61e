"""`--evanescent`: the training runs state and record the evanescent treatment; runs saved before
the option existed (which cut the evanescent waves) are neither resumed nor continued with the new
default silently."""
import pytest

from quaton_fast.cli.train import add_arguments, config_from_args
from quaton_fast.train.config import RunConfig
from quaton_fast.train.run_classify import build_model
from quaton_fast.train.stages import GEOMETRY_FIELDS


def _parse(*argv):
    import argparse
    p = argparse.ArgumentParser()
    add_arguments(p)
    return config_from_args(p.parse_args(["--task", "mnist", *argv]))


def test_default_is_the_presets_and_the_option_reaches_the_network():
    cfg = _parse("--neurons", "16", "--layers", "1", "--object-size", "8")
    assert cfg.evanescent == "decay"
    assert build_model(cfg, 10).between.evanescent == "decay"
    cut = _parse("--neurons", "16", "--layers", "1", "--object-size", "8", "--evanescent", "cut")
    assert build_model(cut, 10).between.evanescent == "cut"
    with pytest.raises(SystemExit):
        _parse("--evanescent", "damp")
    with pytest.raises(ValueError, match=r"RunConfig\(\): argument 'evanescent'"):
        RunConfig(evanescent="damp").validate(("mnist",))


def test_old_saved_configs_mean_cut_and_do_not_match_the_new_default():
    old = RunConfig().to_dict()
    del old["evanescent"]                         # a config saved before the option existed
    theirs = RunConfig.from_dict(old)
    assert theirs.evanescent == "cut"
    mine = RunConfig().validate(("mnist",))
    assert "evanescent" in mine.same_training(theirs)   # --resume refuses to switch the physics
    assert "evanescent" in GEOMETRY_FIELDS               # so does --init-from
    assert RunConfig.from_dict(mine.to_dict()).evanescent == "decay"
