"""Convex solids, the regions built from them, and their exact path lengths along parallel rays.

Patient coordinates, in cm: ``x`` towards the patient's left, ``y`` anterior, ``z`` cranial; ``z = 0`` is the
level of the lateral costophrenic angles. A :class:`View` casts parallel rays along a horizontal unit vector ``u``;
the pixel in row ``r``, column ``c`` is the ray through ``s·e + z·ẑ`` with ``s = s0 + (c + ½)·pitch`` and
``z = z0 − (r + ½)·pitch``. Every solid here is convex, so a ray meets it in one interval ``[t0, t1]``; a
:class:`Region` (intersection, optionally within a union, minus a union) has an exact length from interval
arithmetic, which is what makes the projection consistent between views.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INF = np.float32(np.inf)


@dataclass(frozen=True)
class View:
    """Parallel-beam geometry of one radiograph (``name`` is "PA" or "LAT"); ``u`` and ``e`` are horizontal."""

    name: str
    u: tuple[float, float, float]  # ray direction, source → detector
    e: tuple[float, float, float]  # image column direction
    s0: float  # column coordinate (cm) of the image's left edge
    z0: float  # z (cm) of the image's top edge
    pitch: float  # cm per pixel
    h: int
    w: int
    detector: float  # coordinate of the detector plane along u, for the magnification of chest-wall bones

    def coarse(self, f: int) -> View:
        """The same field sampled every ``f`` pixels (edges aligned)."""
        return View(self.name, self.u, self.e, self.s0, self.z0, self.pitch * f, -(-self.h // f), -(-self.w // f),
                    self.detector)

    def pixel_coords(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Column coordinates ``s`` as a (1, w) row and heights ``z`` as an (h, 1) column, in cm."""
        s = self.s0 + (np.arange(c0, c1, dtype=np.float64) + 0.5) * self.pitch
        z = self.z0 - (np.arange(r0, r1, dtype=np.float64) + 0.5) * self.pitch
        return s[None, :], z[:, None]

    def crop(self, s_lo: float, s_hi: float, z_lo: float, z_hi: float) -> tuple[int, int, int, int] | None:
        """Pixel window ``(r0, r1, c0, c1)`` whose centres cover the box, clipped to the image; None if empty."""
        p = self.pitch
        c0 = max(0, math.ceil((s_lo - self.s0) / p - 0.5)) if s_lo > -1e6 else 0
        c1 = min(self.w, math.floor((s_hi - self.s0) / p - 0.5) + 1) if s_hi < 1e6 else self.w
        r0 = max(0, math.ceil((self.z0 - z_hi) / p - 0.5)) if z_hi < 1e6 else 0
        r1 = min(self.h, math.floor((self.z0 - z_lo) / p - 0.5) + 1) if z_lo > -1e6 else self.h
        if c1 <= c0 or r1 <= r0:
            return None
        return r0, r1, c0, c1

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (column, row) pixel positions of points (N, 3); integer values are pixel centres."""
        s = pts[:, 0] * self.e[0] + pts[:, 1] * self.e[1]
        return (s - self.s0) / self.pitch - 0.5, (self.z0 - pts[:, 2]) / self.pitch - 0.5


@dataclass(frozen=True)
class Quadric:
    """The solid ``(p − c)ᵀ Q (p − c) ≤ 1`` cut to ``zlo ≤ z ≤ zhi``; ``cov`` = Q⁻¹ gives its extents.

    An elliptic cylinder along z is an ellipsoid with a huge z semi-axis plus the z cut.
    """

    c: tuple[float, float, float]
    q: tuple[float, ...]
    cov: tuple[float, ...]
    zlo: float = -1e9
    zhi: float = 1e9

    def __hash__(self) -> int:  # regions are memo keys: hash once
        h = self.__dict__.get("_h")
        if h is None:
            h = hash((self.c, self.q, self.zlo, self.zhi))
            object.__setattr__(self, "_h", h)
        return h

    def bbox(self, view: View) -> tuple[float, float, float, float]:
        """Projected extent: column range ``c·e ± √(eᵀΣe)`` and height range ``c_z ± √Σ_zz`` (cut to z limits)."""
        v, e, c = self.cov, view.e, self.c
        sc = c[0] * e[0] + c[1] * e[1]
        hs = math.sqrt(max(e[0] * e[0] * v[0] + 2 * e[0] * e[1] * v[1] + e[1] * e[1] * v[4], 0.0))
        hz = math.sqrt(v[8])
        return sc - hs, sc + hs, max(c[2] - hz, self.zlo), min(c[2] + hz, self.zhi)

    def contains(self, pts: np.ndarray) -> np.ndarray:
        x, y, z = (pts - np.asarray(self.c)).T
        q = self.q
        inside = (q[0] * x * x + q[4] * y * y + q[8] * z * z + 2 * (q[1] * x * y + q[2] * x * z + q[5] * y * z)) <= 1.0
        return inside & (pts[:, 2] >= self.zlo) & (pts[:, 2] <= self.zhi)

    def interval(self, view: View, s: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entry/exit parameters along the rays (empty rays get ``(+inf, −inf)``).

        Relative to the centre, a ray is ``w = ds·e + dz·ẑ + t'·u``; ``(w)ᵀQ(w) = 1`` is quadratic in ``t'``.
        """
        a, bs, bz, css, csz, czz, sc, tc = _ray_coefficients(self, view)
        ds = (s - sc).astype(np.float32)
        dz = (z - self.c[2]).astype(np.float32)
        b = np.float32(bs) * ds + np.float32(bz) * dz
        cc = (np.float32(css) * ds) * ds + (np.float32(csz) * ds) * dz + (np.float32(czz) * dz * dz - 1)
        disc = b * b - np.float32(a) * cc
        ok = disc > 0
        if self.zlo > -1e8 or self.zhi < 1e8:
            ok &= (z >= self.zlo) & (z <= self.zhi)
        r = np.sqrt(np.maximum(disc, 0))
        inv_a, t0 = np.float32(1.0 / a), np.float32(tc)
        return np.where(ok, (-b - r) * inv_a + t0, INF), np.where(ok, (r - b) * inv_a + t0, -INF)

    def translated(self, d) -> Quadric:
        return Quadric(tuple(np.add(self.c, d).tolist()), self.q, self.cov,
                       self.zlo + (d[2] if self.zlo > -1e8 else 0), self.zhi + (d[2] if self.zhi < 1e8 else 0))

    def scaled(self, about, f) -> Quadric:
        """Stretch by factors ``f`` (x, y, z) about the point ``about``."""
        f = np.asarray(f, dtype=float)
        a = np.asarray(about, dtype=float)
        S, Si = np.diag(f), np.diag(1.0 / f)
        q = Si @ np.asarray(self.q).reshape(3, 3) @ Si
        cov = S @ np.asarray(self.cov).reshape(3, 3) @ S
        zlo = a[2] + f[2] * (self.zlo - a[2]) if self.zlo > -1e8 else self.zlo
        zhi = a[2] + f[2] * (self.zhi - a[2]) if self.zhi < 1e8 else self.zhi
        return Quadric(tuple((a + f * (np.asarray(self.c) - a)).tolist()), _tup(q), _tup(cov), zlo, zhi)

    @property
    def semi_width_x(self) -> float:
        """Half of the extent along x (the PA width is twice this)."""
        return math.sqrt(self.cov[0])


@dataclass(frozen=True)
class HalfSpace:
    """The solid ``n · p ≤ d``."""

    n: tuple[float, float, float]
    d: float

    def bbox(self, view: View) -> tuple[float, float, float, float]:
        n = self.n
        if abs(n[0]) < 1e-12 and abs(n[1]) < 1e-12:
            return (-1e9, 1e9, -1e9, self.d / n[2]) if n[2] > 0 else (-1e9, 1e9, self.d / n[2], 1e9)
        return -1e9, 1e9, -1e9, 1e9

    def contains(self, pts: np.ndarray) -> np.ndarray:
        n = self.n
        return pts[:, 0] * n[0] + pts[:, 1] * n[1] + pts[:, 2] * n[2] <= self.d

    def interval(self, view: View, s: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = np.asarray(self.n)
        nu = float(n @ np.asarray(view.u))
        rhs = (self.d - float(n @ np.asarray(view.e)) * s - n[2] * z).astype(np.float32)
        rhs = np.broadcast_to(rhs, (z.shape[0], s.shape[1]))
        if abs(nu) < 1e-9:
            full = rhs >= 0
            return np.where(full, -INF, INF), np.where(full, INF, -INF)
        t = rhs / np.float32(nu)
        return (np.full_like(t, -INF), t) if nu > 0 else (t, np.full_like(t, INF))


def _ray_coefficients(p: Quadric, view: View) -> tuple[float, ...]:
    """Scalars of the ray quadratic (pure Python: these are called thousands of times on tiny data).

    ``a = uᵀQu``, ``b = (uᵀQe)·ds + (uᵀQẑ)·dz``, ``c = (eᵀQe)·ds² + 2(eᵀQẑ)·ds·dz + Q_zz·dz² − 1``; plus the
    centre's column coordinate ``c·e`` and depth ``c·u``.
    """
    q, u, e, c = p.q, view.u, view.e, p.c
    qu = (q[0] * u[0] + q[1] * u[1], q[3] * u[0] + q[4] * u[1], q[6] * u[0] + q[7] * u[1])
    qe = (q[0] * e[0] + q[1] * e[1], q[3] * e[0] + q[4] * e[1], q[6] * e[0] + q[7] * e[1])
    return (qu[0] * u[0] + qu[1] * u[1], qu[0] * e[0] + qu[1] * e[1], qu[2], qe[0] * e[0] + qe[1] * e[1],
            2 * qe[2], q[8], c[0] * e[0] + c[1] * e[1], c[0] * u[0] + c[1] * u[1])


def _tup(m: np.ndarray) -> tuple[float, ...]:
    return tuple(np.asarray(m, dtype=float).ravel().tolist())


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rotation matrix: ``roll`` about x, then ``pitch`` about y, then ``yaw`` about z (radians)."""
    cx, sx, cy, sy, cz, sz = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def ellipsoid(center, semi, rot: np.ndarray | None = None, zlo: float = -1e9, zhi: float = 1e9) -> Quadric:
    """Ellipsoid with semi-axes ``semi`` along the columns of ``rot`` (identity when None)."""
    if rot is None:
        a, b, c = (float(v) for v in semi)
        q = (1 / a**2, 0.0, 0.0, 0.0, 1 / b**2, 0.0, 0.0, 0.0, 1 / c**2)
        cov = (a * a, 0.0, 0.0, 0.0, b * b, 0.0, 0.0, 0.0, c * c)
        return Quadric(tuple(float(v) for v in center), q, cov, float(zlo), float(zhi))
    a = np.asarray(semi, dtype=float)
    R = np.asarray(rot, dtype=float)
    q, cov = (R / a**2) @ R.T, (R * a**2) @ R.T
    return Quadric(tuple(float(v) for v in center), _tup(q), _tup(cov), float(zlo), float(zhi))


def cylinder_z(center_xy, semi_xy, zlo: float, zhi: float, yaw: float = 0.0) -> Quadric:
    """Elliptic cylinder along z between ``zlo`` and ``zhi``."""
    return ellipsoid((center_xy[0], center_xy[1], 0.5 * (zlo + zhi)), (semi_xy[0], semi_xy[1], 1e4),
                     rotation(yaw=yaw) if yaw else None, zlo, zhi)


def below(z: float) -> HalfSpace:
    return HalfSpace((0.0, 0.0, 1.0), float(z))


def above(z: float) -> HalfSpace:
    return HalfSpace((0.0, 0.0, -1.0), -float(z))


def plane(normal, point) -> HalfSpace:
    """Half-space on the side ``normal · (p − point) ≤ 0``."""
    n = np.asarray(normal, dtype=float)
    n = n / np.linalg.norm(n)
    return HalfSpace(tuple(n.tolist()), float(n @ np.asarray(point, dtype=float)))


@dataclass(frozen=True)
class Region:
    """``(∩ inc) ∩ (∪ any) \\ (∪ exc)`` — ``any`` empty means no union constraint; ``inc`` must be bounded."""

    inc: tuple
    any: tuple = ()
    exc: tuple = ()

    def __hash__(self) -> int:
        h = self.__dict__.get("_h")
        if h is None:
            h = hash((self.inc, self.any, self.exc))
            object.__setattr__(self, "_h", h)
        return h

    def bbox(self, view: View) -> tuple[float, float, float, float]:
        lo_s, hi_s, lo_z, hi_z = -1e9, 1e9, -1e9, 1e9
        for p in self.inc:
            a, b, c, d = p.bbox(view)
            lo_s, hi_s, lo_z, hi_z = max(lo_s, a), min(hi_s, b), max(lo_z, c), min(hi_z, d)
        if self.any:
            boxes = [p.bbox(view) for p in self.any]
            lo_s, hi_s = max(lo_s, min(b[0] for b in boxes)), min(hi_s, max(b[1] for b in boxes))
            lo_z, hi_z = max(lo_z, min(b[2] for b in boxes)), min(hi_z, max(b[3] for b in boxes))
        return lo_s, hi_s, lo_z, hi_z

    def contains(self, pts: np.ndarray) -> np.ndarray:
        ok = np.ones(len(pts), dtype=bool)
        for p in self.inc:
            ok &= p.contains(pts)
        if self.any:
            ok &= np.any([p.contains(pts) for p in self.any], axis=0)
        for p in self.exc:
            idx = np.flatnonzero(ok)
            if isinstance(p, Quadric):  # only points inside the solid's bounding box can be inside it
                q = pts[idx]
                near = np.abs(q[:, 0] - p.c[0]) <= math.sqrt(p.cov[0])
                near &= np.abs(q[:, 1] - p.c[1]) <= math.sqrt(p.cov[4])
                near &= np.abs(q[:, 2] - p.c[2]) <= math.sqrt(p.cov[8])
                idx = idx[near]
            ok[idx] &= ~p.contains(pts[idx])
        return ok

    def length(self, view: View) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """Path length (cm) of every ray through the region, on the region's pixel window."""
        win = view.crop(*self.bbox(view))
        if win is None:
            return None
        s, z = view.pixel_coords(*win)
        lo, hi = None, None
        for p in self.inc:
            iv = _interval_in(p, view, win, s, z)
            if iv is None:
                return None
            t0, t1 = iv
            lo = t0 if lo is None else np.maximum(lo, t0)
            hi = t1 if hi is None else np.minimum(hi, t1)
        empty = ~(hi > lo)
        lo, hi = np.where(empty, INF, lo), np.where(empty, -INF, hi)
        uni = [(lo, hi)]
        if self.any:
            uni = [_clip(iv, lo, hi) for iv in (_interval_in(p, view, win, s, z) for p in self.any) if iv is not None]
            if not uni:
                return None
        exc = [_clip(iv, lo, hi) for iv in (_interval_in(p, view, win, s, z) for p in self.exc) if iv is not None]
        length = _union_length(uni + exc)
        if exc:
            length = length - _union_length(exc)
        return win, np.maximum(length, 0).astype(np.float32)


def _interval_in(p, view: View, win, s, z):
    """A solid's interval on a pixel window, computed only where its own box overlaps (None if nowhere)."""
    if isinstance(p, HalfSpace):
        return p.interval(view, s, z)
    sub = view.crop(*p.bbox(view))
    r0, r1, c0, c1 = win
    if sub is None or sub[0] >= r1 or sub[1] <= r0 or sub[2] >= c1 or sub[3] <= c0:
        return None
    a0, a1, b0, b1 = max(sub[0], r0) - r0, min(sub[1], r1) - r0, max(sub[2], c0) - c0, min(sub[3], c1) - c0
    if (a0, a1, b0, b1) == (0, r1 - r0, 0, c1 - c0):
        return p.interval(view, s, z)
    t0 = np.full((r1 - r0, c1 - c0), INF, np.float32)
    t1 = np.full((r1 - r0, c1 - c0), -INF, np.float32)
    t0[a0:a1, b0:b1], t1[a0:a1, b0:b1] = p.interval(view, s[:, b0:b1], z[a0:a1])
    return t0, t1


def _clip(iv, lo, hi):
    return np.maximum(iv[0], lo), np.minimum(iv[1], hi)


def _union_length(ivs: list) -> np.ndarray:
    """Total length of the union of intervals, per ray.

    With the starts ``s`` and the ends ``e`` each sorted on their own (empty intervals pushed to +BIG), the
    covered part between the k-th and (k+1)-th end is ``[max(s_{k+1}, e_k), e_{k+1}]``, so the union is
    ``Σ_k max(0, e_{k+1} − max(s_{k+1}, e_k))``. Sorting values (not pairs) needs only min/max networks.
    """
    if len(ivs) == 1:
        return np.maximum(ivs[0][1] - ivs[0][0], 0)
    starts, ends = [], []
    for t0, t1 in ivs:
        empty = ~(t1 > t0)
        starts.append(np.where(empty, _BIG, t0))
        ends.append(np.where(empty, _BIG, t1))
    for i, j in _network(len(ivs)):
        for v in (starts, ends):
            v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
    total = np.maximum(ends[0] - starts[0], 0)
    for k in range(1, len(ivs)):
        total += np.maximum(ends[k] - np.maximum(starts[k], ends[k - 1]), 0)
    return total


_BIG = np.float32(1e30)


def _network(n: int) -> list[tuple[int, int]]:
    """Comparators of Batcher's odd–even merge sort for n items (those touching padding dropped)."""
    pairs = []
    size = 1
    while size < n:
        size *= 2
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    return pairs


def solid_chords(solids: list[tuple[float, Quadric]], view: View) -> np.ndarray:
    """``Σ Δμ · chord`` of many small quadrics (no overlap handling), vectorised over all their pixels.

    Per solid the chord is ``2·√(b² − a·c)/a`` with ``b``, ``c`` the ray coefficients of :meth:`Quadric.interval`.
    """
    out = np.zeros(view.h * view.w, np.float32)
    if not solids:
        return out.reshape(view.h, view.w)
    u, e = np.asarray(view.u), np.asarray(view.e)
    Q = np.array([q.q for _, q in solids]).reshape(-1, 3, 3)
    cov = np.array([q.cov for _, q in solids]).reshape(-1, 3, 3)
    C = np.array([q.c for _, q in solids])
    Qu, Qe = Q @ u, Q @ e
    a = Qu @ u
    bs, bz, css, csz, czz = Qu @ e, Qu[:, 2], Qe @ e, 2 * Qe[:, 2], Q[:, 2, 2]
    sc, zc = C @ e, C[:, 2]
    zlo = np.array([q.zlo for _, q in solids])
    zhi = np.array([q.zhi for _, q in solids])
    hs = np.sqrt(np.einsum("i,nij,j->n", e, cov, e))
    hz = np.sqrt(cov[:, 2, 2])
    p = view.pitch
    c0 = np.clip(np.ceil((sc - hs - view.s0) / p - 0.5), 0, view.w).astype(int)
    c1 = np.clip(np.floor((sc + hs - view.s0) / p - 0.5) + 1, 0, view.w).astype(int)
    r0 = np.clip(np.ceil((view.z0 - np.minimum(zc + hz, zhi)) / p - 0.5), 0, view.h).astype(int)
    r1 = np.clip(np.floor((view.z0 - np.maximum(zc - hz, zlo)) / p - 0.5) + 1, 0, view.h).astype(int)
    wd, ht = np.maximum(c1 - c0, 0), np.maximum(r1 - r0, 0)
    n = wd * ht
    if n.sum() == 0:
        return out.reshape(view.h, view.w)
    k = np.repeat(np.arange(len(solids)), n)
    local = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    rr = r0[k] + local // wd[k]
    cc = c0[k] + local % wd[k]
    z = view.z0 - (rr + 0.5) * p
    ds = (view.s0 + (cc + 0.5) * p - sc[k]).astype(np.float32)
    dz = (z - zc[k]).astype(np.float32)
    b = bs[k] * ds + bz[k] * dz
    cq = (css[k] * ds + csz[k] * dz) * ds + czz[k] * dz * dz - 1
    disc = b * b - a[k] * cq
    ok = (disc > 0) & (z >= zlo[k]) & (z <= zhi[k])
    dmu = np.array([d for d, _ in solids])
    chord = np.where(ok, (2.0 * dmu[k] / a[k]) * np.sqrt(np.maximum(disc, 0)), 0.0)
    out += np.bincount(rr * view.w + cc, weights=chord, minlength=view.h * view.w).astype(np.float32)
    return out.reshape(view.h, view.w)



def split_lengths(base: Region, parts: dict, view: View) -> dict:
    """Path lengths through sub-regions of one region: ``key: (inc, exc)`` in ``parts`` stands for
    ``base ∩ (∩ inc) \\ exc`` (``inc`` convex solids or half-spaces, ``exc`` at most one convex solid); the result
    is ``{key: (window, lengths) | None}`` as :meth:`Region.length` gives, all on ``base``'s window.

    ``base`` (no ``any`` union) is cut by its excluded solids once per ray into its uncovered pieces: with the
    clipped starts ``s`` and ends ``e`` of the excluded intervals sorted on their own, the pieces of ``[lo, hi]``
    are ``[lo, s₀], [e₀, s₁], …, [e_{n−1}, hi]`` (those with an end before their start are empty), since the
    running counts of starts and ends agree exactly between an end and the next start. A sub-region then costs
    one interval clip per piece instead of its own sort of the excluded intervals; the lengths equal
    :meth:`Region.length` of ``Region(base.inc + inc, (), base.exc + exc)`` up to float rounding.
    """
    if base.any:
        raise ValueError("split_lengths: the base region must have no union constraint")
    win = view.crop(*base.bbox(view))
    if win is None:
        return {k: None for k in parts}
    s, z = view.pixel_coords(*win)
    lo = hi = None
    for p in base.inc:
        iv = _interval_in(p, view, win, s, z)
        if iv is None:
            return {k: None for k in parts}
        lo = iv[0] if lo is None else np.maximum(lo, iv[0])
        hi = iv[1] if hi is None else np.minimum(hi, iv[1])
    starts, ends = [], []
    for iv in (_interval_in(p, view, win, s, z) for p in base.exc):
        if iv is not None:
            t0, t1 = _clip(iv, lo, hi)
            empty = ~(t1 > t0)
            starts.append(np.where(empty, _BIG, t0))
            ends.append(np.where(empty, _BIG, t1))
    for i, j in _network(len(starts)):
        for v in (starts, ends):
            v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
    a = np.stack([lo, *ends])  # pieces [a_k, b_k] of every ray, k = 0..n
    b = np.minimum(np.stack([*starts, hi]), hi)
    out = {}
    for key, (inc, exc) in parts.items():
        if len(exc) > 1:
            raise ValueError(f"split_lengths: part {key!r} excludes {len(exc)} solids; at most one is supported")
        p_lo, p_hi, gone = None, None, False
        for p in inc:
            iv = _interval_in(p, view, win, s, z)
            if iv is None:
                gone = True
                break
            p_lo = iv[0] if p_lo is None else np.maximum(p_lo, iv[0])
            p_hi = iv[1] if p_hi is None else np.minimum(p_hi, iv[1])
        if gone:
            out[key] = None
            continue
        c0 = a if p_lo is None else np.maximum(a, p_lo)
        c1 = b if p_hi is None else np.minimum(b, p_hi)
        inside = np.maximum(c1 - c0, 0)
        if exc:
            x = _interval_in(exc[0], view, win, s, z)
            if x is not None:
                inside -= np.maximum(np.minimum(c1, x[1]) - np.maximum(c0, x[0]), 0)
        out[key] = (win, inside.sum(0, dtype=np.float32))
    return out
