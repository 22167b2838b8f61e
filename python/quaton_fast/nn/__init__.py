"""Drop-in torch layers: propagation, phase layers, read-outs and the D2NN."""
from .d2nn import D2NN
from .fabrication_errors import FabricationErrors
from .phase_layer import PhaseLayer
from .presets import PRESETS, preset_config
from .propagation import FreeSpace
from .readouts import DetectorReadout, QPIReadout

__all__ = ["D2NN", "FabricationErrors", "PhaseLayer", "FreeSpace", "DetectorReadout", "QPIReadout", "PRESETS", "preset_config"]
