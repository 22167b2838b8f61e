"""The closed relief mesh of a height map: a 2-manifold triangle soup, outward-oriented.

Geometry (units are the caller's): ``top`` (N, N) absolute column tops > 0 on a grid of pitch
``dx``; cell (i, j) covers x ∈ [j·dx, (j+1)·dx], y ∈ [i·dx, (i+1)·dx]; the solid is the union of
the columns [cell] × [0, top] (the base plate is part of every column).

What makes it a closed 2-manifold without T-junctions (every edge in exactly two triangles, no
vertex inside another triangle's edge, so slicers and ``trimesh.is_watertight`` agree):

* walls are one polygon per boundary segment between two regions of different tops, whose two
  vertical sides carry EVERY height at which something else meets that vertical line (the tops
  of all regions around it, and 0); each is triangulated as a ladder between its two sides;
* top faces are one polygon per region, bottom faces a fan over the plate's border vertices;
* where two columns touch only along a vertical edge (the two taller cells of a 2x2 block on a
  diagonal, the lower two on the other), the union of columns is not a manifold there: four walls
  would share that edge. A square post ("hub") of side ``2·eps`` (``eps = dx·HUB_FRACTION``,
  dx/64) centred on that grid vertex, as tall as the tallest of the four cells, joins the diagonal
  pair. It changes the relief only inside that 2eps x 2eps square (0.1 % of a cell's area).

Coordinates are built from ``xs = arange(N + 1)·dx`` and ``± eps`` in one way everywhere, so
shared vertices are bit-identical.
"""
from __future__ import annotations

import numpy as np

__all__ = ["HUB_FRACTION", "relief_triangles", "hub_vertices"]

#: half-side of the post joining diagonally touching columns, as a fraction of the pitch
HUB_FRACTION = 1.0 / 64.0


def hub_vertices(top: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hub (N+1, N+1) bool, hub height (N+1, N+1), padded tops (N+2, N+2) with 0 outside)."""
    n = top.shape[0]
    tp = np.zeros((n + 2, n + 2))
    tp[1:-1, 1:-1] = top
    a, b, c, d = tp[:-1, :-1], tp[:-1, 1:], tp[1:, :-1], tp[1:, 1:]     # SW, SE, NW, NE of vertex (r, c)
    hub = (np.minimum(a, d) > np.maximum(b, c)) | (np.minimum(b, c) > np.maximum(a, d))
    return hub, np.maximum(np.maximum(a, b), np.maximum(c, d)), tp


def _ladder(pa, pb, lo, hi, part_a, part_b) -> np.ndarray:
    """Walls: segment pa -> pb (S, 2) (outward = right of the direction), from z = lo to hi (S,);
    side heights part_a / part_b (S, K): every value strictly between lo and hi becomes a vertex of
    that side. Returns (T, 3, 3) triangles, outward by the right-hand rule."""
    S = lo.shape[0]
    if S == 0:
        return np.zeros((0, 3, 3))
    sides = []
    for side, part in ((0, part_a), (1, part_b)):
        v = np.sort(part, axis=1)
        keep = (v > lo[:, None]) & (v < hi[:, None])
        keep[:, 1:] &= v[:, 1:] != v[:, :-1]
        v = np.concatenate([v, hi[:, None]], axis=1)
        keep = np.concatenate([keep, np.ones((S, 1), bool)], axis=1)
        w = np.broadcast_to(np.arange(S)[:, None], v.shape)[keep]
        sides.append((w, v[keep], np.full(w.size, side)))
    w, z, side = (np.concatenate(x) for x in zip(*sides))
    order = np.lexsort((side, z, w))
    w, z, side = w[order], z[order], side[order]
    idx = np.arange(w.size)
    start = np.searchsorted(w, w, side="left")                 # first event of each wall
    tri = np.empty((w.size, 3, 3))
    cur = []
    for s in (0, 1):
        last = np.maximum.accumulate(np.where(side == s, idx, -1))
        before = np.concatenate([[-1], last[:-1]])
        ok = before >= start
        cur.append(np.where(ok, z[np.maximum(before, 0)], lo[w]))
    za, zb = cur
    tri[:, 0, :2], tri[:, 0, 2] = pa[w], za
    tri[:, 1, :2], tri[:, 1, 2] = pb[w], zb
    tri[:, 2, :2] = np.where((side == 0)[:, None], pa[w], pb[w])
    tri[:, 2, 2] = z
    return tri


def _walls(pa, pb, t_left, t_right, part_a, part_b) -> np.ndarray:
    """Walls between a left and a right region (seen along pa -> pb); none where the tops agree."""
    m = t_left != t_right
    pa, pb, tl, tr, qa, qb = pa[m], pb[m], t_left[m], t_right[m], part_a[m], part_b[m]
    flip = tr >= tl                                  # outward must point to the lower region (the right)
    pa2, pb2 = np.where(flip[:, None], pb, pa), np.where(flip[:, None], pa, pb)
    qa2, qb2 = np.where(flip[:, None], qb, qa), np.where(flip[:, None], qa, qb)
    return _ladder(pa2, pb2, np.minimum(tl, tr), np.maximum(tl, tr), qa2, qb2)


def _fan(centre_xy, z, ring) -> np.ndarray:
    """Triangles (centre, ring[k], ring[k+1]) for rings (F, R, 2) CCW, at heights z (F,); pairs of
    equal consecutive ring points are skipped."""
    F, R, _ = ring.shape
    nxt = np.roll(ring, -1, axis=1)
    keep = np.any(ring != nxt, axis=2)
    f, k = np.nonzero(keep)
    tri = np.empty((f.size, 3, 3))
    tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2] = centre_xy[f], ring[f, k], nxt[f, k]
    tri[:, :, 2] = z[f][:, None]
    return tri


def relief_triangles(top: np.ndarray, dx: float) -> np.ndarray:
    """(T, 3, 3) float64 triangles of the closed relief of column tops ``top`` (N, N) > 0, pitch dx."""
    n = top.shape[0]
    eps = dx * HUB_FRACTION
    hub, hub_h, tp = hub_vertices(top)
    xs = np.arange(n + 1) * dx
    zero = np.zeros(())
    vpart = np.stack([tp[:-1, :-1], tp[:-1, 1:], tp[1:, :-1], tp[1:, 1:], np.zeros((n + 1, n + 1))], -1)
    out = []

    # walls on the vertical grid lines x = xs[c] (c = 0..n), row i; left cell (i, c-1), right cell (i, c)
    i, c = np.meshgrid(np.arange(n), np.arange(n + 1), indexing="ij")
    i, c = i.ravel(), c.ravel()
    tl, tr = tp[i + 1, c], tp[i + 1, c + 1]
    h0, h1 = hub[i, c], hub[i + 1, c]
    pa = np.stack([xs[c], np.where(h0, xs[i] + eps, xs[i])], -1)
    pb = np.stack([xs[c], np.where(h1, xs[i + 1] - eps, xs[i + 1])], -1)
    tpart = lambda hh: np.stack([tl, tr, hh, 0 * tl, 0 * tl], -1)  # noqa: E731
    qa = np.where(h0[:, None], tpart(hub_h[i, c]), vpart[i, c])
    qb = np.where(h1[:, None], tpart(hub_h[i + 1, c]), vpart[i + 1, c])
    out.append(_walls(pa, pb, tl, tr, qa, qb))

    # walls on the horizontal grid lines y = xs[r] (r = 0..n), column j; below (r-1, j), above (r, j);
    # along +x the right-hand side is below
    r, j = np.meshgrid(np.arange(n + 1), np.arange(n), indexing="ij")
    r, j = r.ravel(), j.ravel()
    tb, ta = tp[r, j + 1], tp[r + 1, j + 1]
    h0, h1 = hub[r, j], hub[r, j + 1]
    pa = np.stack([np.where(h0, xs[j] + eps, xs[j]), xs[r]], -1)
    pb = np.stack([np.where(h1, xs[j + 1] - eps, xs[j + 1]), xs[r]], -1)
    tpart = lambda hh: np.stack([tb, ta, hh, 0 * tb, 0 * tb], -1)  # noqa: E731
    qa = np.where(h0[:, None], tpart(hub_h[r, j]), vpart[r, j])
    qb = np.where(h1[:, None], tpart(hub_h[r, j + 1]), vpart[r, j + 1])
    out.append(_walls(pa, pb, ta, tb, qa, qb))

    # hubs: eight half-sides, CCW around the post (post on the left, a cell on the right)
    hr, hc = np.nonzero(hub)
    if hr.size:
        X, Y, h = xs[hc], xs[hr], hub_h[hr, hc]
        A, B, C, D = tp[hr, hc], tp[hr, hc + 1], tp[hr + 1, hc], tp[hr + 1, hc + 1]   # SW SE NW NE
        Xm, Xp, Ym, Yp = X - eps, X + eps, Y - eps, Y + eps
        pts = {"sw": (Xm, Ym), "s": (X, Ym), "se": (Xp, Ym), "e": (Xp, Y), "ne": (Xp, Yp), "n": (X, Yp),
               "nw": (Xm, Yp), "w": (Xm, Y)}
        part = {"sw": (A,), "se": (B,), "ne": (D,), "nw": (C,), "s": (A, B), "e": (B, D), "n": (C, D), "w": (A, C)}
        ring = ("sw", "s", "se", "e", "ne", "n", "nw", "w")
        cell = (A, B, B, D, D, C, C, A)
        z0 = np.zeros_like(h)

        def q(name):
            vals = part[name] + (h,)
            return np.stack(vals + (z0,) * (5 - len(vals)), -1)
        for k, name in enumerate(ring):
            nxt = ring[(k + 1) % 8]
            out.append(_walls(np.stack(pts[name], -1), np.stack(pts[nxt], -1), h, cell[k], q(name), q(nxt)))
        rings = np.stack([np.stack(pts[nm], -1) for nm in ring], 1)
        out.append(_fan(np.stack([X, Y], -1), h, rings))

    # top faces: a quad per cell without hub corners, a fan from the centre otherwise
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    i, j = i.ravel(), j.ravel()
    z = top[i, j]
    x0, x1, y0, y1 = xs[j], xs[j + 1], xs[i], xs[i + 1]
    hs = np.stack([hub[i, j], hub[i, j + 1], hub[i + 1, j + 1], hub[i + 1, j]], -1)     # SW SE NE NW
    plain = ~hs.any(1)
    sw, se, ne, nw = (np.stack([x, y], -1) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))
    for a, b, cc in ((sw, se, ne), (sw, ne, nw)):
        t = np.empty((int(plain.sum()), 3, 3))
        t[:, 0, :2], t[:, 1, :2], t[:, 2, :2] = a[plain], b[plain], cc[plain]
        t[:, :, 2] = z[plain][:, None]
        out.append(t)
    f = ~plain
    if f.any():
        def corner(hflag, cxy, arrive, hc, leave):
            pick = lambda p: np.where(hflag[:, None], p, cxy)  # noqa: E731
            return [pick(arrive), pick(hc), pick(leave)]
        S = lambda x, y: np.stack([x, y], -1)  # noqa: E731
        ring = (corner(hs[:, 0], sw, S(x0, y0 + eps), S(x0 + eps, y0 + eps), S(x0 + eps, y0))
                + corner(hs[:, 1], se, S(x1 - eps, y0), S(x1 - eps, y0 + eps), S(x1, y0 + eps))
                + corner(hs[:, 2], ne, S(x1, y1 - eps), S(x1 - eps, y1 - eps), S(x1 - eps, y1))
                + corner(hs[:, 3], nw, S(x0 + eps, y1), S(x0 + eps, y1 - eps), S(x0, y1 - eps)))
        ring = np.stack(ring, 1)[f]
        centre = np.stack([(x0 + x1) / 2, (y0 + y1) / 2], -1)[f]
        out.append(_fan(centre, z[f], ring))

    # bottom: a fan over the border vertices, normal -z (clockwise seen from above)
    k = np.arange(n)
    L = xs[n]
    border = np.concatenate([np.stack([xs[k], 0 * xs[k]], -1), np.stack([L + 0 * xs[k], xs[k]], -1),
                             np.stack([xs[n - k], L + 0 * xs[k]], -1), np.stack([0 * xs[k], xs[n - k]], -1)])
    out.append(_fan(np.array([[L / 2, L / 2]]), zero.reshape(1), border[::-1][None]))
    return np.concatenate(out, axis=0)
