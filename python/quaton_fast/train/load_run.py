"""A trained run back in Python: :func:`load_run` rebuilds the network of a ``quaton-fast train`` run.

    import quaton_fast as qf
    net = qf.load_run("runs/t1")                   # the D2NN, eval mode, on the CPU
    logits = net(qf.encode.phase(images, ...))     # as the run's test did
    net.run_config                                 # the RunConfig it was trained with
    net.hard_quantized_phases()                    # the masks a fab would make

The checkpoint (``checkpoint.pt``) holds tensors, numbers and strings only: plain
``torch.load(path)`` (PyTorch's default ``weights_only=True``) reads it too.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..nn.d2nn import D2NN
from .checkpoint import load_checkpoint
from .config import RunConfig

__all__ = ["load_run"]


def load_run(path: "str | os.PathLike", *, device: "str | torch.device" = "cpu") -> D2NN:
    """The trained network of a run directory (or of one of its checkpoints, ``checkpoint.pt`` /
    ``epoch<k>.pt``), as the run's test used it.

    Rebuilds the network from the settings saved in the checkpoint (classification or QPI read-out),
    switches to the run's quantizer where the run did (a QAT method; PQ's hard rounding), loads the
    weights, moves it to ``device`` and sets eval mode. The settings are ``net.run_config``
    (:class:`~quaton_fast.train.config.RunConfig`); fabrication-error injection is off.

    Raises FileNotFoundError when the directory holds no ``checkpoint.pt``; ValueError naming the file
    when it is not a checkpoint of ``quaton-fast train`` or its weights do not fit the settings.
    """
    from .run_classify import build_model
    from .run_qpi import build_qpi_model
    from .stages import _enter_qat, _load_model

    func = "load_run"
    p = Path(path)
    ckpt_path = p / "checkpoint.pt" if p.is_dir() else p
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{func}(): argument 'path' must be a run directory of `quaton-fast train` or one of "
                                f"its checkpoints; {ckpt_path} does not exist")
    ckpt = load_checkpoint(ckpt_path, func)
    for key in ("kind", "stage"):
        if key not in ckpt:
            raise ValueError(f"{func}(): {ckpt_path} is not a checkpoint of `quaton-fast train` (no {key!r})")
    try:
        cfg = RunConfig.from_dict(ckpt["config"])
    except TypeError as e:
        raise ValueError(f"{func}(): {ckpt_path} holds settings this version cannot read ({e})") from None
    cpu = torch.device("cpu")
    if ckpt["kind"] == "qpi":
        net = build_qpi_model(cfg)
    else:
        # checkpoints written before num_classes was saved: every built-in classification task has 10
        net = build_model(cfg, int(ckpt.get("num_classes", 10)))
    net.set_fabrication_errors(None)
    if ckpt["stage"] == "qat":
        _enter_qat(net, cfg, cpu)
    _load_model(net, ckpt, ckpt_path, "path", func)
    if cfg.quantizer != "fp" and ckpt["stage"] == "fp":   # as finish_stages does before the run's test
        _enter_qat(net, cfg, cpu)
    net.run_config = cfg
    return net.to(device).eval()
