"""The configuration of one training run (what `quaton-fast train` takes), validated.

Epoch convention: ``epochs`` is the total number of epochs of this run; the first ``warmup`` of
them train in full precision, the rest with ``quantizer`` (quantization-aware training, QAT).
``epochs = 0`` with ``init_from`` only evaluates the loaded model with ``quantizer`` (e.g. PQ:
the hard-rounded full-precision model).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .._validation import finite_real, positive_int
from ..nn.presets import PRESETS
from ..quant.quantizers import QUANTIZER_NAMES, make_quantizer, quantizer_option_names

#: refractive index of the mask material per preset, for the fabrication export (heights):
#: fused silica at 632.8 nm; the 3D-printing resin of Lin et al. (Science 2018) at 0.4 THz.
DEFAULT_N_MATERIAL = {"visible-128": 1.457, "thz-200": 1.7227}


@dataclass
class RunConfig:
    """Every knob of a run. Lengths in the preset are metres; ``lr`` is Adam's learning rate."""
    task: str = "mnist"
    quantizer: str = "psq-ft"
    levels: int = 4
    quantizer_options: dict = field(default_factory=dict)  # keywords of make_quantizer (e.g. k=30)
    preset: str = "visible-128"
    n: int | None = None            # neurons per side (None: the preset's)
    layers: int | None = None       # phase layers (None: the preset's)
    object_size: int | None = None  # image size on the grid, px (None: the preset's)
    pad: int | None = None          # zero-padding factor of the FFTs (None: the preset's)
    evanescent: str | None = None   # "cut" | "decay" (None: the preset's, set by validate())
    epochs: int = 6
    warmup: int = 3
    batch: int = 64
    lr: float = 0.05
    seed: int = 0
    train_limit: int | None = None  # train on a seeded random subset of this many images
    test_limit: int | None = None   # smoke runs only: test on the first K test images
    init_from: str | None = None
    snapshot_epochs: list[int] = field(default_factory=list)  # keep model copies after these epochs
    n_material: float | None = None
    # fabrication errors drawn at every training forward (the "vaccinated" D2NN; 0 = off):
    # phase error per neuron (rad), lateral shift per layer (in units of the pitch dx), axial error
    # per gap (m); each uniform in [-size, size] or normal with s.d. size (fab_distribution)
    fab_phase: float = 0.0
    fab_shift: float = 0.0
    fab_dz: float = 0.0
    fab_distribution: str = "uniform"
    # broadband / partially coherent, height-quantized network (nn.SpectralD2NN) when any is set:
    # vacuum wavelengths (m; None: the preset's one), the relief material (materials.material_from_spec;
    # None: constant n_material), Gaussian Schell-model illumination [sigma_s m, sigma_g m, modes]
    wavelengths: list[float] | None = None
    material: str | None = None
    coherence: list[float] | None = None
    data_root: str | None = None
    device: str = "cpu"
    plots: bool = True

    def validate(self, task_names: list[str] | tuple[str, ...]) -> "RunConfig":
        """Check every field; raise ValueError/TypeError naming the option. Returns self."""
        f = "RunConfig"
        if self.task not in task_names:
            raise ValueError(f"{f}(): argument 'task' must be one of {sorted(task_names)}, got {self.task!r}")
        if self.quantizer not in QUANTIZER_NAMES:
            raise ValueError(f"{f}(): argument 'quantizer' must be one of {', '.join(QUANTIZER_NAMES)}, "
                             f"got {self.quantizer!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"{f}(): argument 'preset' must be one of {sorted(PRESETS)}, got {self.preset!r}")
        positive_int(f, "levels", self.levels, minimum=2)
        if self.evanescent is None:
            self.evanescent = PRESETS[self.preset].get("evanescent", "cut")
        if self.evanescent not in ("cut", "decay"):
            raise ValueError(f"{f}(): argument 'evanescent' must be 'cut' or 'decay', got {self.evanescent!r}")
        if not isinstance(self.quantizer_options, dict):
            raise TypeError(f"{f}(): argument 'quantizer_options' must be a dict, got "
                            f"{type(self.quantizer_options).__name__}")
        self._check_quantizer_options(f)
        for name in ("n", "layers", "object_size", "pad", "train_limit", "test_limit"):
            if getattr(self, name) is not None:
                positive_int(f, name, getattr(self, name))
        from .registry import TASKS             # the task's kind (registry imports this module)
        images = self.task not in TASKS or TASKS[self.task].kind == "classify"   # QPI tasks use the full grid
        preset_n = PRESETS[self.preset].get("n")
        n = self.n if self.n is not None else preset_n
        preset_object = PRESETS[self.preset].get("object_size")
        if images and self.object_size is None and n is not None and preset_object is not None and preset_object > n:
            self.object_size = n                   # the preset's object does not fit a smaller grid: fill it
        if images and self.object_size is not None and n is not None and self.object_size > n:
            raise ValueError(f"{f}(): argument 'object_size' (--object-size) must be <= the grid's {n} neurons per "
                             f"side (--neurons), got {self.object_size}")
        positive_int(f, "epochs", self.epochs, minimum=0)
        positive_int(f, "warmup", self.warmup, minimum=0)
        positive_int(f, "batch", self.batch)
        positive_int(f, "seed", self.seed, minimum=0)
        finite_real(f, "lr", self.lr, positive=True)
        if self.warmup > self.epochs:
            raise ValueError(f"{f}(): argument 'warmup' must be <= epochs ({self.epochs}), got {self.warmup}")
        if self.epochs == 0 and self.init_from is None:
            raise ValueError(f"{f}(): argument 'epochs' must be >= 1 unless init_from is given "
                             f"(epochs 0 = evaluate a loaded model), got 0")
        for e in self.snapshot_epochs:
            positive_int(f, "snapshot_epochs", e)
            if e > self.epochs:
                raise ValueError(f"{f}(): argument 'snapshot_epochs' must hold epochs in 1..{self.epochs}, got {e}")
        if self.n_material is not None:
            finite_real(f, "n_material", self.n_material, positive=True)
        for name in ("fab_phase", "fab_shift", "fab_dz"):
            finite_real(f, name, getattr(self, name), nonnegative=True)
        if self.fab_distribution not in ("uniform", "normal"):
            raise ValueError(f"{f}(): argument 'fab_distribution' must be 'uniform' or 'normal', "
                             f"got {self.fab_distribution!r}")
        self._check_spectral(f)
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"{f}(): argument 'device' must be 'cpu', 'cuda' or 'cuda:K', got {self.device!r}")
        return self

    @property
    def spectral(self) -> bool:
        """True when the run trains a :class:`~quaton_fast.nn.SpectralD2NN` (any of wavelengths,
        material, coherence set)."""
        return self.wavelengths is not None or self.material is not None or self.coherence is not None

    def _check_spectral(self, f: str) -> None:
        if self.wavelengths is not None:
            if not isinstance(self.wavelengths, (list, tuple)) or not self.wavelengths:
                raise ValueError(f"{f}(): argument 'wavelengths' must be a non-empty list of metres, "
                                 f"got {self.wavelengths!r}")
            for w in self.wavelengths:
                finite_real(f, "wavelengths", w, positive=True)
        if self.material is not None:
            from ..reference.materials import material_from_spec
            material_from_spec(self.material)       # ValueError naming the spec, at the start
        if self.coherence is not None:
            if not isinstance(self.coherence, (list, tuple)) or len(self.coherence) != 3:
                raise ValueError(f"{f}(): argument 'coherence' must be [sigma_s, sigma_g, modes], "
                                 f"got {self.coherence!r}")
            finite_real(f, "coherence", self.coherence[0], positive=True)
            finite_real(f, "coherence", self.coherence[1], positive=True)
            positive_int(f, "coherence", self.coherence[2])
        if self.spectral and (self.fab_phase or self.fab_shift or self.fab_dz):
            raise ValueError(f"{f}(): arguments 'fab_*' must be 0 with a spectral network (--wavelengths/"
                             f"--material/--coherence): fabrication errors are not modelled there yet")

    def _check_quantizer_options(self, f: str) -> None:
        """Build the quantizer once so that an unknown or out-of-range --qopt fails here, at the start,
        naming the option (not as a TypeError from deep inside the first QAT epoch)."""
        if not self.quantizer_options:
            return
        if self.quantizer == "fp":
            raise ValueError(f"{f}(): argument 'quantizer_options' (--qopt) must be empty for quantizer "
                             f"'fp', which takes no options, got {self.quantizer_options}")
        try:
            make_quantizer(self.quantizer, self.levels, **self.quantizer_options)
        except TypeError as e:
            valid = quantizer_option_names(self.quantizer)
            unknown = sorted(set(self.quantizer_options) - set(valid))
            raise ValueError(f"{f}(): argument 'quantizer_options' (--qopt) holds "
                             f"{'option ' + ', '.join(map(repr, unknown)) if unknown else 'an option'} that quantizer "
                             f"{self.quantizer!r} does not take; its options are: "
                             f"{', '.join(valid) or 'none'} ({e})") from None
        except ValueError as e:
            raise ValueError(f"{f}(): argument 'quantizer_options' (--qopt) is out of range: {e}") from None

    def geometry(self) -> dict:
        """Keyword overrides of the preset for :meth:`D2NN.preset`."""
        out = {}
        for key, name in (("n", "n"), ("num_layers", "layers"), ("object_size", "object_size"), ("pad", "pad"),
                          ("evanescent", "evanescent")):
            if getattr(self, name) is not None:
                out[key] = getattr(self, name)
        return out

    def fabrication_errors(self, dx: float):
        """The training-time :class:`~quaton_fast.nn.fabrication_errors.FabricationErrors` (None
        when every size is 0); ``dx``: the network's pitch (m), the unit of ``fab_shift``."""
        if not (self.fab_phase or self.fab_shift or self.fab_dz):
            return None
        from ..nn.fabrication_errors import FabricationErrors
        return FabricationErrors(phase=self.fab_phase, shift=self.fab_shift * dx, dz=self.fab_dz,
                                 distribution=self.fab_distribution)

    def material_index(self) -> float:
        return self.n_material if self.n_material is not None else DEFAULT_N_MATERIAL.get(self.preset, 1.5)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = dict(d)
        # runs saved before the option existed propagated with the evanescent waves cut
        d.setdefault("evanescent", "cut")
        return cls(**{k: v for k, v in d.items() if k in known})

    #: fields that do not change the trained model or its metrics (where, and which extra files)
    NOT_RESULT_FIELDS = ("device", "plots", "data_root")

    def training_settings(self) -> dict:
        """The fields that change what is trained or measured (a run directory's settings record,
        ``settings.json``; resume must match on all of them)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.NOT_RESULT_FIELDS}

    def same_training(self, other: "RunConfig") -> list[str]:
        """Names of the fields that change what is trained (resume must match on all of them)."""
        a, b = self.training_settings(), other.training_settings()
        return [k for k in a if a[k] != b[k]]
