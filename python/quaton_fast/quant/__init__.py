"""Phase quantizers for quantization-aware training of optical neurons (the QuATON paper)."""
from ..reference.levels import MAX_LEVELS
from . import levels
from ..reference.complex_levels import ComplexLevelTable, complex_level_table, from_material
from .base import Quantizer, make_level_table
from .quantizers import DSQ, PSQ, QUANTIZER_NAMES, STE, FullPrecision, GumbelSoftmax, PostTraining, make_quantizer
from .schedules import FixedTemperature, LearnableTemperature, LinearTemperature

__all__ = ["Quantizer", "make_level_table", "FullPrecision", "PostTraining", "STE", "DSQ", "GumbelSoftmax",
           "PSQ", "FixedTemperature", "LinearTemperature", "LearnableTemperature", "make_quantizer",
           "QUANTIZER_NAMES", "MAX_LEVELS", "levels", "ComplexLevelTable", "complex_level_table",
           "from_material"]
