"""Drop-in torch layers: propagation, phase layers, read-outs and the D2NN."""
from .d2nn import D2NN
from .fabrication_errors import FabricationErrors
from .phase_layer import PhaseLayer
from .presets import PRESETS, preset_config
from .propagation import FreeSpace
from .readouts import DetectorReadout, QPIReadout
from .coherence import GaussianSchellSource
from .height_layer import HeightLayer
from .spectral_d2nn import SpectralD2NN
from .spectral_propagation import SpectralFreeSpace
from .spectral_readout import SpectralDetectors

__all__ = ["D2NN", "FabricationErrors", "PhaseLayer", "FreeSpace", "DetectorReadout", "QPIReadout", "PRESETS", "preset_config",
           "SpectralD2NN", "HeightLayer", "SpectralFreeSpace", "SpectralDetectors", "GaussianSchellSource"]
