"""`quaton-fast export`: fabrication files (STL relief meshes, a GDSII level layout) from masks.npz."""
from __future__ import annotations

import argparse

from . import _types as _A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("masks", help="masks .npz written by `quaton-fast train` or D2NN.export_masks")
    p.add_argument("--out", required=True, help="output folder: layer_<l>.stl and masks.gds")
    p.add_argument("--base", type=_A.real(minimum=0.0, strict_minimum=True), required=True, metavar="M",
                   help="base plate thickness under the STL relief (m)")
    p.add_argument("--unit", choices=("m", "mm", "um", "nm"), default="mm", help="unit of the STL numbers (default mm)")
    p.add_argument("--no-stl", action="store_true", help="skip the STL meshes")
    p.add_argument("--no-gds", action="store_true", help="skip the GDSII file")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from ..export import export_fabrication
    r = export_fabrication(args.masks, args.out, base_thickness=args.base, unit=args.unit,
                           stl=not args.no_stl, gds=not args.no_gds)
    for p in r["stl"]:
        print(p)
    if r["gds"]:
        print(f"{r['gds']} ({len(r['level_heights'])} height levels, GDS layers 1..{len(r['level_heights'])})")
    return 0
