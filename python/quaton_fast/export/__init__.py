"""Fabrication exports of hard-quantized diffractive masks.

- :func:`write_relief_stl` / :func:`read_relief_stl`: one closed relief mesh per mask (STL, for
  3D printing; numpy-stl), base thickness and pitch in metres, unit of the file stated in its header.
- :func:`write_levels_gds` / :func:`read_levels_gds`: one GDS layer per height level (grey-scale or
  multi-step lithography; gdstk).
- :func:`export_fabrication`: both, plus the ``.npz`` of phases and heights, from a masks file
  written by ``D2NN.export_masks`` / ``quaton-fast train``.

Both writers need the optional extra ``pip install 'quaton_fast[fab]'`` (numpy-stl, gdstk).
"""
from .relief_stl import UNITS, read_relief_stl, relief_mesh_triangles, write_relief_stl
from .levels_gds import levels_from_heights, read_levels_gds, write_levels_gds
from .masks import export_fabrication

__all__ = ["UNITS", "relief_mesh_triangles", "write_relief_stl", "read_relief_stl",
           "levels_from_heights", "write_levels_gds", "read_levels_gds", "export_fabrication"]
