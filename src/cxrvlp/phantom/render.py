"""Projection of a scene into PA and lateral radiographs, and the film look.

Per pixel, the line integral ``A = ∫ μ dl`` is the sum of ``Δμ × path length`` over regions (exact, from
:mod:`.primitives`), plus additive bone/metal solids and tube samples spread over discs. The detector and
processing act linearly on ``A`` in one FFT pass: a sharp core blur, a broad scatter tail and unsharp-mask edge
enhancement, ``H = G(σ_core)·[(1−s) + s·G(σ_scatter)]·[1 + k·(1 − G(σ_us))]``. Lung parenchymal texture
(proportional to the aerated path) is added before it, quantum noise ``σ_A ∝ exp(A/2)`` (fewer photons behind
dense tissue) after it, and a sigmoid window maps ``A`` to gray levels: air black, bone and fluid white.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from .anatomy import MU_SOFT, Anatomy
from .primitives import View, rotation, solid_chords
from .scene import Samples, Scene

SID = 180.0  # source-to-detector distance, cm
COARSE = 2
R_BINS = np.array([0.0, 1.4, 2.8, 5.6, 11.2])  # disc radii (pixels); a tube's weight is split between neighbours
CORE_CM, SCATTER_CM, UNSHARP_CM, SCATTER_FRACTION = 0.07, 1.6, 0.55, 0.12


def make_views(anat: Anatomy, names, image_size: int) -> dict[str, View]:
    pose, p = anat.pose, anat.patient
    pitch = pose.fov_h / image_size
    views = {}
    for name in names:
        R = rotation(yaw=pose.yaw[name])
        if name == "PA":
            u, e, det = R @ np.array([0.0, 1, 0]), R @ np.array([1.0, 0, 0]), p.cage_y + p.wall + 1.0
        else:
            u, e, det = R @ np.array([1.0, 0, 0]), R @ np.array([0.0, -1, 0]), p.cage_x + p.wall + 1.0
        w = int(round(image_size * pose.width_frac[name]))
        off, margin = pose.center[name]
        views[name] = View(name, tuple(u), tuple(e), off - w * pitch / 2, p.lung_h + margin, pitch, image_size, w, det)
    return views


@dataclass
class Projection:
    """One view before display: filtered attenuation (full size); aerated-lung and body path lengths (cm), kept
    on the coarse grid (``lung_field`` brings their ratio to full size)."""

    atten: np.ndarray
    lung: np.ndarray
    body: np.ndarray

    def lung_field(self, share: float) -> np.ndarray:
        """Pixels whose ray runs mostly through aerated lung (share of the body path), full size."""
        m = self.lung >= share * np.maximum(self.body, 1.0)
        h, w = self.atten.shape
        return np.repeat(np.repeat(m, COARSE, 0), COARSE, 1)[:h, :w]


def _memo(memo: dict, key, fn):
    if key not in memo:
        memo[key] = fn()
    return memo[key]


def _add(canvas: np.ndarray, item, scale: float = 1.0) -> None:
    if item is None:
        return
    (r0, r1, c0, c1), arr = item
    canvas[r0:r1, c0:c1] += arr if scale == 1.0 else scale * arr


def _pad(view: View) -> int:
    """Canvas margin (pixels): keeps the scatter tail from wrapping around the FFT."""
    return max(16, view.h // 16)


def canvas_shape(view: View) -> tuple[int, int]:
    """FFT canvas: the image plus a margin, square and of a fast size so kernels are cached across studies."""
    n = sfft.next_fast_len(view.h + 2 * _pad(view), real=True)
    return n, n


def project(scene: Scene, view: View, anat: Anatomy, memo: dict, texture_seed: int | None) -> Projection:
    """Attenuation (filtered), aerated-lung path and body path maps of one view.

    Region path lengths are smooth away from silhouettes, so they are computed every ``COARSE`` pixels and
    interpolated; bones, vessels and devices are splatted at full resolution.
    """
    cv = view.coarse(COARSE)
    A = np.zeros((cv.h, cv.w), np.float32)
    lung = np.zeros((cv.h, cv.w), np.float32)
    for region, dmu, air, v in scene.regions:
        if v and v != view.name:
            continue
        item = _memo(memo, ("len", region, view.name), lambda: region.length(cv))
        _add(A, item, dmu)
        if air:
            _add(lung, item, air)
    body = np.zeros((cv.h, cv.w), np.float32)
    _add(body, _memo(memo, ("len", scene.body[view.name], view.name), lambda: scene.body[view.name].length(cv)))
    if texture_seed is not None:  # parenchymal mottle in proportion to the aerated path
        tex = _memo(memo, ("texture", texture_seed, cv.h), lambda: _texture(texture_seed, cv.h, cv.pitch))
        A += (0.05 * anat.pose.texture / 15.0) * tex[:, :cv.w] * lung
    A = _upsample(A, view.h, view.w)
    for name, group in scene.solids.items():
        A += _memo(memo, ("solids", group, view.name), lambda: solid_chords(list(group), view))
    spectrum = None
    groups = [((id(scene.samples),), lambda: scene.samples)]
    if scene.extra:
        groups.append((tuple(id(e) for e in scene.extra), lambda: Samples.concat(scene.extra)))
    for key, get in groups:
        flat0, sp = _memo(memo, ("dep", key, view.name), lambda: _deposit(get(), view, anat))
        if flat0 is not None:
            A += flat0
        if sp is not None:
            spectrum = sp if spectrum is None else spectrum + sp
    atten = _filtered(A, spectrum, view, anat.pose.sharpen)
    return Projection(atten, lung, body)


def _upsample(m: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear interpolation of a map sampled every COARSE pixels back to (h, w)."""
    def axis(n, nc):
        x = np.clip((np.arange(n) + 0.5) / COARSE - 0.5, 0, nc - 1.0001).astype(np.float32)
        i = x.astype(int)
        return i, x - i

    (i, fy), (j, fx) = axis(h, m.shape[0]), axis(w, m.shape[1])
    rows = m[i] * (1 - fy)[:, None] + m[i + 1] * fy[:, None]
    return rows[:, j] * (1 - fx) + rows[:, j + 1] * fx


def _deposit(smp, view: View, anat: Anatomy) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Tube samples splatted bilinearly, one image per disc radius: the point-like bin as an image-size map, the
    others as the spectrum of their sum after spreading each over its disc."""
    if smp.view:
        smp = smp if smp.view == view.name else None
    if smp is None or not len(smp):
        return None, None
    fc, fr = view.project(smp.pos)
    if np.any(smp.magnify):  # chest-wall bones: point-source magnification relative to the patient's centre
        u = view.u
        d = view.detector - (smp.pos[:, 0] * u[0] + smp.pos[:, 1] * u[1])
        m = np.where(smp.magnify, (SID - view.detector) / (SID - d), 1.0)
        cc, rc = (-view.s0) / view.pitch - 0.5, (view.z0 - anat.patient.lung_h / 2) / view.pitch - 0.5
        fc, fr = cc + (fc - cc) * m, rc + (fr - rc) * m
    hp, wp = canvas_shape(view)
    pad = _pad(view)
    fc += pad
    fr += pad
    c0, r0 = fc.astype(np.int64), fr.astype(np.int64)  # fc, fr > 0 wherever it matters: truncation = floor
    ok = (fc >= 0) & (fr >= 0) & (c0 < wp - 1) & (r0 < hp - 1)
    if not ok.all():
        fc, fr, c0, r0 = fc[ok], fr[ok], c0[ok], r0[ok]
    wgt = smp.weight[ok] if not ok.all() else smp.weight
    rad = np.minimum((smp.radius[ok] if not ok.all() else smp.radius) / view.pitch, R_BINS[-1])
    tx, ty = fc - c0, fr - r0
    wgt = wgt / view.pitch**2
    lo = np.minimum(np.searchsorted(R_BINS, rad, side="right") - 1, len(R_BINS) - 2)
    f = (rad - R_BINS[lo]) / (R_BINS[lo + 1] - R_BINS[lo])
    present = np.zeros(len(R_BINS), bool)
    present[np.unique(lo)] = True
    present[np.unique(lo[f > 0]) + 1] = True
    used = np.flatnonzero(present)
    slot = np.cumsum(present) - 1
    pix = r0 * wp + c0
    # thin lines (bin 0) are placed bilinearly; discs of a pixel or more hide the rounding to the nearest pixel
    near = pix + (tx >= 0.5) + wp * (ty >= 0.5)
    idx, val = [], []
    point = lo == 0
    if point.any():
        w0 = wgt[point] * (1 - f[point])
        p0, x, y = pix[point] + slot[0] * hp * wp, tx[point], ty[point]
        idx += [p0, p0 + 1, p0 + wp, p0 + wp + 1]
        val += [w0 * (1 - x) * (1 - y), w0 * x * (1 - y), w0 * (1 - x) * y, w0 * x * y]
        rest = ~point
        idx += [near[rest] + slot[lo[rest]] * hp * wp]
        val += [wgt[rest] * (1 - f[rest])]
    else:
        idx += [near + slot[lo] * hp * wp]
        val += [wgt * (1 - f)]
    idx += [near + slot[lo + 1] * hp * wp]
    val += [wgt * f]
    idx, val = np.concatenate(idx), np.concatenate(val)
    flat = np.bincount(idx, val, minlength=len(used) * hp * wp).reshape(len(used), hp, wp).astype(np.float32)
    flat0 = None
    if used[0] == 0:
        flat0 = flat[0, pad:pad + view.h, pad:pad + view.w].copy()
        flat, used = flat[1:], used[1:]
    if not len(used):
        return flat0, None
    F = sfft.rfft2(flat, axes=(-2, -1))
    return flat0, sum(F[i] * _disc_fft(hp, wp, float(R_BINS[k])) for i, k in enumerate(used))


def _filtered(A: np.ndarray, spectrum: np.ndarray | None, view: View, sharpen: float) -> np.ndarray:
    hp, wp = canvas_shape(view)
    pad = _pad(view)
    canvas = np.empty((hp, wp), np.float32)  # edge-replicating pad, by hand (np.pad is slow)
    canvas[pad:pad + view.h, pad:pad + view.w] = A
    canvas[:pad, pad:pad + view.w] = A[:1]
    canvas[pad + view.h:, pad:pad + view.w] = A[-1:]
    canvas[:, :pad] = canvas[:, pad:pad + 1]
    canvas[:, pad + view.w:] = canvas[:, pad + view.w - 1:pad + view.w]
    F = sfft.rfft2(canvas)
    if spectrum is not None:
        F += spectrum
    F *= _system_fft(hp, wp, view.pitch, round(sharpen, 4))
    return sfft.irfft2(F, s=(hp, wp))[pad:pad + view.h, pad:pad + view.w]


@lru_cache(maxsize=64)
def _disc_fft(hp: int, wp: int, r: float) -> np.ndarray:
    """Spectrum of a unit-mass disc of radius r pixels (anti-aliased edge), centred on the origin."""
    y = np.minimum(np.arange(hp), hp - np.arange(hp))[:, None]
    x = np.minimum(np.arange(wp), wp - np.arange(wp))[None, :]
    k = np.clip(r + 0.5 - np.hypot(y, x), 0, 1)
    return sfft.rfft2(k / k.sum()).astype(np.complex64)


@lru_cache(maxsize=64)
def _system_fft(hp: int, wp: int, pitch: float, sharpen: float) -> np.ndarray:
    f2 = np.fft.fftfreq(hp)[:, None] ** 2 + np.fft.rfftfreq(wp)[None, :] ** 2

    def g(sigma_cm: float) -> np.ndarray:
        return np.exp(-2 * math.pi**2 * (sigma_cm / pitch) ** 2 * f2)

    h = g(CORE_CM) * ((1 - SCATTER_FRACTION) + SCATTER_FRACTION * g(SCATTER_CM)) * (1 + sharpen * (1 - g(UNSHARP_CM)))
    return h.astype(np.float32)


def _texture(seed: int, h: int, pitch: float) -> np.ndarray:
    """(h, h) mottle with a ~0.6 cm grain: coarse Gaussian noise, bilinearly upsampled (by gathers, no BLAS)."""
    m = int(h * pitch / 0.6) + 2
    coarse = np.random.default_rng(seed).standard_normal((m, m)).astype(np.float32)
    x = np.linspace(0, m - 1.001, h, dtype=np.float32)
    i = x.astype(int)
    f = x - i
    rows = coarse[i] * (1 - f)[:, None] + coarse[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def reference_attenuation(anat: Anatomy, view: str) -> tuple[float, float]:
    """Finding-independent attenuation of a mid-lung ray and of an upper-abdomen ray, for the window."""
    p = anat.patient
    wx, wy = p.cage_x + p.wall, p.cage_y + p.wall * 0.9
    if view == "PA":
        body = 2 * wy * math.sqrt(1 - (0.5 * p.cage_x / wx) ** 2)
        lung = 2 * p.cage_y * 0.8
        dense = 2 * wy * math.sqrt(1 - (0.5 * p.cage_x / wx) ** 2)
    else:
        body = 2 * wx
        lung = 2 * p.cage_x * 0.75
        dense = 2 * wx * 0.97
    return MU_SOFT * body - (MU_SOFT - p.mu_lung) * lung, MU_SOFT * dense


def window(anat: Anatomy, view: str) -> tuple[float, float]:
    """Sigmoid centre and width putting the reference rays at the pose's gray levels."""
    a_l, a_d = reference_attenuation(anat, view)
    g_l, g_d = anat.pose.lung_gray[view], anat.pose.dense_gray[view]
    lo, hi = math.log(g_l / (1 - g_l)), math.log(g_d / (1 - g_d))
    width = (a_d - a_l) / (hi - lo)
    return a_l - width * lo, width


def to_display(proj: Projection, anat: Anatomy, view: str, noise_seed: int | None) -> np.ndarray:
    """Gray levels in [0, 255] (float). ``noise_seed`` None gives the noise-free image."""
    a = proj.atten
    a_l, _ = reference_attenuation(anat, view)
    if noise_seed is not None:
        z = np.random.default_rng(noise_seed).standard_normal(a.shape).astype(np.float32)
        a = a + anat.pose.noise * np.minimum(np.exp(0.5 * (a - a_l)), 4.0) * z
    c, wd = window(anat, view)
    return 255.0 / (1.0 + np.exp(-(a - c) / wd))
