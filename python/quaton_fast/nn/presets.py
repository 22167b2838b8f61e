"""Published optical setups as D2NN keyword sets (the lab's visible-light setup and the THz setup of Lin et al., Science 361, 1004 (2018)). Lengths in metres.

Every preset states its optics explicitly: ``wavelength`` is the VACUUM wavelength, ``n_medium``
the index of the medium between the layers (1: air), and ``evanescent`` the treatment of
evanescent waves. Rule for ``evanescent`` (docs/physics.md): "decay" (the exact near field)
wherever the grid holds spatial frequencies beyond 1/λ, i.e. ``dx < λ/√2`` with ``λ = wavelength /
n_medium`` (corners of the frequency grid; along the axes from ``dx < λ/2``); for coarser pitches
"cut" and "decay" are the same transfer function, and the preset would say "cut". Both presets
below are sub-wavelength (dx = λ/2 and dx = 0.53·λ), so both use "decay". Results recorded before
this option existed were made with "cut" (pass ``evanescent="cut"`` to reproduce them).
"""
from __future__ import annotations

import math

VISIBLE_WAVELENGTH = 632.8e-9

PRESETS: dict[str, dict] = {
    # The lab's visible-light PhaseD2NN setup (QuATON prior work): He-Ne laser, neuron pitch λ/2,
    # 8 layers of 128×128 neurons, 28×28 images resized to 32×32 and zero-padded to 128.
    "visible-128": dict(n=128, wavelength=VISIBLE_WAVELENGTH, n_medium=1.0, dx=VISIBLE_WAVELENGTH / 2,
                        num_layers=8, z_in=3.373e-6, dz=3.373e-6, z_out=5.904e-6, object_size=32, pad=2,
                        evanescent="decay"),
    # THz-scale setup in the style of Lin et al., Science 2018: λ = 0.75 mm, pitch 0.4 mm, 30 mm
    # between layers, 5 layers of 200×200 neurons. Object size 100 px (40 mm) is our choice.
    "thz-200": dict(n=200, wavelength=0.75e-3, n_medium=1.0, dx=0.4e-3, num_layers=5, z_in=30e-3, dz=30e-3,
                    z_out=30e-3, object_size=100, pad=2, evanescent="decay"),
}


def evanescent_default(dx: float, wavelength: float, n_medium: float = 1.0) -> str:
    """The preset rule: "decay" when the grid of pitch ``dx`` holds evanescent frequencies
    (``dx < λ/√2``, ``λ = wavelength / n_medium``; all lengths in metres), else "cut" (the same
    transfer function there)."""
    return "decay" if dx < wavelength / n_medium / math.sqrt(2.0) else "cut"


def preset_config(name: str) -> dict:
    """A copy of preset ``name``'s keyword arguments for :class:`~quaton_fast.nn.D2NN`."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset_config(): argument 'name' must be one of {sorted(PRESETS)}, got {name!r}")
    return dict(PRESETS[name])
