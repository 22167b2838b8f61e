"""Fabrication exports: STL relief meshes and GDS level layouts read back to the height map."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stl")
pytest.importorskip("gdstk")

from fuzz_checks import assert_rejects  # noqa: E402

import quaton_fast.export as E  # noqa: E402


def _quantized(rng, L=2, n=9, K=4, step=0.7e-6):
    levels = np.arange(K) * step
    k = rng.integers(0, K, size=(L, n, n))
    return k, levels, levels[k]


def _signed_volume(tris):
    """Divergence theorem: V = Σ (v0 · (v1 × v2)) / 6 over outward-oriented triangles."""
    return float(np.einsum("ti,ti->t", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum() / 6.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relief_mesh_is_closed_and_outward(seed):
    rng = np.random.default_rng(seed)
    _, _, h = _quantized(rng, L=1, n=7)
    dx, base = 0.4e-3, 1e-3
    tris = E.relief_mesh_triangles(h[0], dx, base)
    expected = (7 * dx) ** 2 * base + dx ** 2 * h[0].sum() + _posts_volume(base + h[0], dx / 64)
    # outward orientation and closure: the enclosed volume is the plate plus the columns (plus the
    # dx/32 posts joining diagonal pairs); abs=0: the volumes are ~1e-8 m^3
    assert _signed_volume(tris) == pytest.approx(expected, rel=1e-12, abs=0)
    # translating a closed surface does not change its volume (an open one would)
    assert _signed_volume(tris + np.array([3e-3, -2e-3, 5e-3])) == pytest.approx(expected, rel=1e-9, abs=0)


def _posts_volume(top, eps):
    """Extra volume of the posts at grid vertices where two columns touch only along an edge."""
    vol = 0.0
    for r in range(1, top.shape[0]):
        for c in range(1, top.shape[1]):
            a, b, cc, d = top[r - 1, c - 1], top[r - 1, c], top[r, c - 1], top[r, c]
            if min(a, d) > max(b, cc) or min(b, cc) > max(a, d):
                vol += eps * eps * sum(max(a, b, cc, d) - t for t in (a, b, cc, d))
    return vol


@pytest.mark.parametrize("unit", ["m", "mm", "um"])
def test_stl_round_trip_and_units(tmp_path, unit):
    rng = np.random.default_rng(3)
    _, _, h = _quantized(rng, L=1, n=8)
    dx, base = 316.4e-9, 2e-6
    path = tmp_path / "layer.stl"
    ntri = E.write_relief_stl(path, h[0], dx, base, unit=unit)
    back = E.read_relief_stl(path)
    assert back["unit"] == unit and back["dx"] == pytest.approx(dx) and back["base_thickness"] == pytest.approx(base)
    # float32 coordinates in the file: heights back to ~1e-7 of the tallest coordinate
    assert np.abs(back["heights"] - h[0]).max() <= 1e-6 * (base + h.max())
    from stl import mesh
    m = mesh.Mesh.from_file(str(path))
    assert len(m.vectors) == ntri
    # the numbers in the file are in `unit`: the plate spans N·dx
    assert m.vectors[:, :, 0].max() == pytest.approx(8 * dx / E.UNITS[unit], rel=1e-6)


def test_gds_round_trip_one_layer_per_level(tmp_path):
    import gdstk
    rng = np.random.default_rng(4)
    k, levels, h = _quantized(rng, L=3, n=10, K=4)
    dx = 316.4e-9
    path = tmp_path / "m.gds"
    count = E.write_levels_gds(path, k, levels, dx)
    runs = sum(int(1 + (row[1:] != row[:-1]).sum()) for m in k for row in m)
    assert count == runs
    back = E.read_levels_gds(path, dx)
    assert np.array_equal(back["level_maps"], k)
    np.testing.assert_allclose(back["level_heights"], levels, rtol=1e-9)
    np.testing.assert_allclose(back["heights"], h, rtol=1e-9, atol=0)
    lib = gdstk.read_gds(str(path))
    layers = {p.layer for c in lib.cells for p in c.polygons}
    assert layers <= {1, 2, 3, 4} and len(layers) == len(np.unique(k))
    # the pitch is exact in the file's database units (0.1 nm grid for 316.4 nm)
    cell = next(c for c in lib.cells if c.name == "MASK_0")
    xs = np.array([p.bounding_box()[1][0] for p in cell.polygons])
    np.testing.assert_allclose(xs / (dx / 1e-6), np.round(xs / (dx / 1e-6)), atol=1e-9)


def test_export_fabrication_from_a_trained_models_masks(tmp_path):
    torch = pytest.importorskip("torch")
    from quaton_fast.nn import D2NN
    from quaton_fast.quant import PostTraining
    torch.manual_seed(0)
    net = D2NN.preset("thz-200", n=12, num_layers=2, object_size=8, quantizer=PostTraining(4), seed=0).eval()
    net.export_masks(tmp_path / "masks.npz", n_material=1.7)
    heights = np.load(tmp_path / "masks.npz")["heights"]
    out = E.export_fabrication(tmp_path / "masks.npz", tmp_path / "fab", base_thickness=1e-3, unit="mm")
    assert len(out["stl"]) == 2 and out["gds"]
    for l, p in enumerate(out["stl"]):
        back = E.read_relief_stl(p)
        assert np.abs(back["heights"] - heights[l]).max() <= 1e-6 * (1e-3 + heights.max())
    g = E.read_levels_gds(out["gds"], float(np.load(tmp_path / "masks.npz")["dx"]))
    np.testing.assert_allclose(g["heights"], heights, rtol=1e-9, atol=1e-15)
    assert len(out["level_heights"]) <= 4


def test_bad_inputs_name_the_argument(tmp_path):
    h = np.zeros((4, 4))
    assert_rejects(lambda: E.relief_mesh_triangles(np.zeros((3, 4)), 1e-6, 1e-6), "heights")
    assert_rejects(lambda: E.relief_mesh_triangles(h - 1.0, 1e-6, 1e-6), "heights")
    assert_rejects(lambda: E.relief_mesh_triangles(h + np.nan, 1e-6, 1e-6), "heights")
    assert_rejects(lambda: E.relief_mesh_triangles(h, 0.0, 1e-6), "dx")
    assert_rejects(lambda: E.relief_mesh_triangles(h, 1e-6, -1.0), "base_thickness")
    assert_rejects(lambda: E.write_relief_stl(tmp_path / "x.stl", h, 1e-6, 1e-6, unit="inch"), "unit")
    assert_rejects(lambda: E.levels_from_heights(np.array([0.0, 0.5e-6]), [0.0, 1e-6]), "heights")
    k = np.zeros((4, 4), dtype=int)
    assert_rejects(lambda: E.write_levels_gds(tmp_path / "x.gds", k + 5, [0.0, 1e-6], 1e-6), "level_maps")
    assert_rejects(lambda: E.write_levels_gds(tmp_path / "x.gds", k.astype(float), [0.0, 1e-6], 1e-6), "level_maps")
    assert_rejects(lambda: E.write_levels_gds(tmp_path / "x.gds", k, [0.0, 1e-6], 1e-6, info_layer=1), "info_layer")
    assert_rejects(lambda: E.read_relief_stl(tmp_path / "missing.stl"), "missing.stl")
    (tmp_path / "junk.stl").write_bytes(b"solid nothing\n" * 10)
    assert_rejects(lambda: E.read_relief_stl(tmp_path / "junk.stl"), "path")
    assert_rejects(lambda: E.export_fabrication(tmp_path / "none.npz", tmp_path, base_thickness=1e-3), "none.npz")


@pytest.mark.parametrize("dx", [1e300, 1e-300, 2.0])
def test_gds_pitch_outside_what_gdsii_holds_is_refused(tmp_path, dx):
    with pytest.raises(ValueError, match="argument 'dx' must be a pitch in"):
        E.write_levels_gds(tmp_path / "a.gds", np.zeros((1, 2, 2), int), np.array([0.0]), dx)
