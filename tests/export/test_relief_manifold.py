"""STL reliefs are closed 2-manifolds (issue 26): checked by an independent edge count on exact
coordinates, a T-junction search, directed-edge orientation and the enclosed volume, at 1x1, 2x2,
odd and larger masks with many levels (and by trimesh when it is installed)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import quaton_fast.export as E

DX = 64.0          # with eps = dx/64 = 1 and integer heights every coordinate is an exact integer
BASE = 3.0


def _edges(tris):
    v = [tuple(map(float, p)) for p in tris.reshape(-1, 3)]
    directed = Counter()
    for k in range(0, len(v), 3):
        a, b, c = v[k:k + 3]
        directed.update([(a, b), (b, c), (c, a)])
    return directed


def _t_junctions(tris, directed):
    """Vertices lying strictly inside an edge (exact integer geometry)."""
    verts = np.unique(tris.reshape(-1, 3), axis=0)
    bad = 0
    for (a, b) in {tuple(sorted(e)) for e in directed}:
        a, b = np.array(a), np.array(b)
        d = b - a
        t = (verts - a) @ d / (d @ d)
        inside = (t > 0) & (t < 1)
        off = np.abs(np.cross(verts[inside] - a, d)).max(axis=1) if inside.any() else np.zeros(0)
        bad += int((off == 0).sum())
    return bad


def _expected_volume(h):
    """Plate + columns + the posts joining diagonal pairs (found here independently)."""
    top = BASE + h
    n = top.shape[0]
    vol = float(top.sum()) * DX * DX
    eps = DX / 64
    for r in range(1, n):
        for c in range(1, n):
            a, b, cc, d = top[r - 1, c - 1], top[r - 1, c], top[r, c - 1], top[r, c]
            if min(a, d) > max(b, cc) or min(b, cc) > max(a, d):
                vol += eps * eps * sum(max(a, b, cc, d) - t for t in (a, b, cc, d))
    return vol


def _check_manifold(h, t_junctions=True):
    tris = E.relief_mesh_triangles(h, DX, BASE)
    directed = _edges(tris)
    undirected = Counter()
    for (a, b), k in directed.items():
        undirected[tuple(sorted((a, b)))] += k
    assert all(k == 2 for k in undirected.values()), "an edge not shared by exactly two triangles"
    assert all(k == 1 and directed[(b, a)] == 1 for (a, b), k in directed.items()), "inconsistent orientation"
    vol = float(np.einsum("ti,ti->t", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum() / 6.0)
    assert vol == pytest.approx(_expected_volume(h), rel=1e-12)          # outward normals: positive volume
    if t_junctions:
        assert _t_junctions(tris, directed) == 0
    return tris


@pytest.mark.parametrize("h", [np.array([[5.0]]), np.array([[0.0, 1.0], [2.0, 0.0]]),   # 2x2, diagonal pair
                               np.array([[3.0, 0.0], [0.0, 3.0]]), np.array([[1.0, 1.0], [1.0, 1.0]]),
                               np.kron(np.eye(3), np.ones((1, 1))) * 4])                # odd checkerboard-ish
def test_small_reliefs_are_closed_manifolds(h):
    _check_manifold(h)


@pytest.mark.parametrize("n, levels, seed", [(5, 3, 0), (7, 16, 1), (9, 2, 2)])
def test_random_reliefs_are_closed_manifolds_without_t_junctions(n, levels, seed):
    h = np.random.default_rng(seed).integers(0, levels, size=(n, n)).astype(float) * 3
    _check_manifold(h)


def test_large_relief_with_many_levels_is_a_closed_manifold():
    h = np.random.default_rng(5).integers(0, 64, size=(24, 24)).astype(float)
    _check_manifold(h, t_junctions=False)


def test_written_stl_is_watertight_in_its_float32_numbers(tmp_path):
    h = np.random.default_rng(7).integers(0, 8, size=(11, 11)) * 0.7e-6
    p = tmp_path / "l.stl"
    E.write_relief_stl(p, h, 0.4e-3, 1e-3, unit="mm")
    from stl import mesh
    v = mesh.Mesh.from_file(str(p)).vectors
    undirected = Counter()
    for (a, b), k in _edges(v.astype(np.float64)).items():
        undirected[tuple(sorted((a, b)))] += k
    assert all(k == 2 for k in undirected.values())
    back = E.read_relief_stl(p)
    assert np.abs(back["heights"] - h).max() <= 1e-6 * (1e-3 + h.max())
    trimesh = pytest.importorskip("trimesh")
    assert trimesh.load(str(p)).is_watertight


@pytest.mark.parametrize("kw, name", [(dict(heights=np.full((2, 2), 1e300)), "heights"),
                                      (dict(dx=1e300), "dx"), (dict(dx=1e-300), "dx"),
                                      (dict(base_thickness=1e39), "base_thickness")])
def test_extreme_but_finite_sizes_name_the_argument(tmp_path, kw, name):
    args = dict(heights=np.zeros((2, 2)), dx=4e-4, base_thickness=1e-3)
    args.update(kw)
    with pytest.raises(ValueError, match=f"argument '{name}'"):
        E.write_relief_stl(tmp_path / "x.stl", args["heights"], args["dx"], args["base_thickness"], unit="mm")


def test_read_relief_stl_checks_the_declared_triangle_count(tmp_path):
    p = tmp_path / "x.stl"
    E.write_relief_stl(p, np.zeros((2, 2)), 4e-4, 1e-3)
    raw = bytearray(p.read_bytes())
    raw[80:84] = (2 ** 32 - 1).to_bytes(4, "little")
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="4294967295 triangles declared.*x.stl"):
        E.read_relief_stl(p)

