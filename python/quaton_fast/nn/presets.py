"""Published optical setups as D2NN keyword sets (SPEC A1). Lengths in metres."""
from __future__ import annotations

VISIBLE_WAVELENGTH = 632.8e-9

PRESETS: dict[str, dict] = {
    # The lab's visible-light PhaseD2NN setup (QuATON prior work): He-Ne laser, neuron pitch λ/2,
    # 8 layers of 128×128 neurons, 28×28 images resized to 32×32 and zero-padded to 128.
    "visible-128": dict(n=128, wavelength=VISIBLE_WAVELENGTH, dx=VISIBLE_WAVELENGTH / 2, num_layers=8,
                        z_in=3.373e-6, dz=3.373e-6, z_out=5.904e-6, object_size=32, pad=2),
    # THz-scale setup in the style of Lin et al., Science 2018: λ = 0.75 mm, pitch 0.4 mm, 30 mm
    # between layers, 5 layers of 200×200 neurons. Object size 100 px (40 mm) is our choice.
    "thz-200": dict(n=200, wavelength=0.75e-3, dx=0.4e-3, num_layers=5, z_in=30e-3, dz=30e-3,
                    z_out=30e-3, object_size=100, pad=2),
}


def preset_config(name: str) -> dict:
    """A copy of preset ``name``'s keyword arguments for :class:`~quaton_fast.nn.D2NN`."""
    if name not in PRESETS:
        raise ValueError(f"preset_config(): argument 'name' must be one of {sorted(PRESETS)}, got {name!r}")
    return dict(PRESETS[name])
