"""Level tables: phase-only (:class:`LevelTable`) and complex / absorbing (:class:`ComplexLevelTable`).

``qf.quant.levels.from_material(n, kappa, wavelength, heights=... or levels=K, n_medium=1.0)``
builds the levels of a surface relief in an absorbing material; ``complex_level_table(t)`` takes a
measured table of complex transmissions. Both are defined (with their conventions and the errors
they raise) in :mod:`quaton_fast.reference.complex_levels`; any quantizer accepts the result as
``levels``.
"""
from ..reference.complex_levels import ComplexLevelTable, complex_level_table, from_material
from ..reference.levels import MAX_LEVELS, LevelTable, level_table, uniform_levels
from .base import make_level_table

__all__ = ["LevelTable", "ComplexLevelTable", "uniform_levels", "level_table", "complex_level_table",
           "from_material", "make_level_table", "MAX_LEVELS"]
