"""Preview figures: a contact sheet of a generated data set, and each finding rendered with and without it.

    python -m cxrvlp.phantom.preview sheet DATA_DIR out.png [--studies 8]
    python -m cxrvlp.phantom.preview findings out.png [--size 192]

Images are palette PNGs (48 gray levels plus red for boxes and mask outlines) to keep them small.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import anatomy
from . import findings as fnd
from .studies import StudySpec, render_study, render_with_footprints

RED = (230, 40, 40)


def _save(img: Image.Image, path) -> None:
    gray = img.convert("L").quantize(48, dither=Image.Dither.NONE)
    pal = gray.getpalette()[: 48 * 3] + [0, 0, 0] * 14 + list(RED) + [255, 255, 0]
    rgb = np.asarray(img.convert("RGB")).astype(int)
    idx = np.asarray(gray).copy()
    idx[(rgb[..., 0] - rgb[..., 1] > 80)] = 62  # red marks
    idx[(rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 80)] = 63  # yellow captions
    out = Image.fromarray(idx.astype(np.uint8), "P")
    out.putpalette(pal)
    out.save(path, optimize=True)


def _grid(tiles: list[Image.Image], cols: int, gap: int = 4) -> Image.Image:
    rows = [tiles[i:i + cols] for i in range(0, len(tiles), cols)]
    w = max(sum(t.width + gap for t in r) for r in rows)
    h = sum(max(t.height for t in r) + gap for r in rows)
    sheet = Image.new("RGB", (w, h))
    y = 0
    for r in rows:
        x = 0
        for t in r:
            sheet.paste(t, (x, y))
            x += t.width + gap
        y += max(t.height for t in r) + gap
    return sheet


def contact_sheet(root, out, studies: int = 8, cols: int = 4) -> Path:
    """PA + lateral pairs of abnormal studies with both views (greedily covering as many findings as possible),
    boxes of visible findings drawn."""
    root = Path(root)
    recs = [json.loads(line) for line in (root / "phantom_ground_truth.jsonl").read_text().splitlines()]
    recs = [r for r in recs if len(r["images"]) == 2 and r["findings"]]
    chosen, seen = [], set()
    while recs and len(chosen) < studies:
        best = max(recs, key=lambda r: len({f["name"] for f in r["findings"]} - seen))
        recs.remove(best)
        chosen.append(best)
        seen |= {f["name"] for f in best["findings"]}
    tiles = []
    for rec in chosen:
        sid = str(rec["subject_id"])
        ims = []
        for did, view in sorted(rec["images"].items(), key=lambda kv: kv[1] not in ("PA", "AP")):
            im = Image.open(root / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{rec['study_id']}" / f"{did}.jpg")
            im = im.convert("RGB")
            draw = ImageDraw.Draw(im)
            for f in rec["findings"]:
                if f["views"][did]["box"]:
                    draw.rectangle(f["views"][did]["box"], outline=RED)
            ims.append(im)
        tile = Image.new("RGB", (sum(i.width for i in ims) + 2, ims[0].height + 13))
        tile.paste(ims[0], (0, 0))
        tile.paste(ims[1], (ims[0].width + 2, 0))
        ImageDraw.Draw(tile).text((2, ims[0].height + 1), ", ".join(f["name"] for f in rec["findings"]),
                                  fill=(255, 255, 0))
        tiles.append(tile)
    _save(_grid(tiles, cols), out)
    return Path(out)


def findings_panel(out, size: int = 192, seed: int = 3) -> Path:
    """For every finding: PA and lateral with it, and the same study without it (identical noise)."""
    tiles = []
    for i, name in enumerate(fnd.FINDINGS):
        rng = np.random.default_rng(seed * 100 + i)
        patient = anatomy.sample_patient(rng)
        pose = anatomy.sample_pose(rng, patient, size)
        f = fnd.sample(name, rng, anatomy.build(patient, pose))
        spec = StudySpec(patient, pose, [f], ("PA", "LAT"), size, seed + i)
        with_, feet = render_with_footprints(spec)
        without = render_study(spec, exclude=(name,))
        parts = []
        for view in ("PA", "LAT"):
            for img, outline in ((with_[view], True), (without[view], False)):
                rgb = np.stack([img] * 3, -1)
                if outline:
                    m = feet[name][view].mask
                    edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
                    rgb[edge] = RED
                parts.append(Image.fromarray(rgb))
        tile = Image.new("RGB", (sum(p.width + 2 for p in parts), size + 13))
        x = 0
        for p in parts:
            tile.paste(p, (x, 0))
            x += p.width + 2
        seen = "/".join(v for v in ("PA", "LAT") if feet[name][v].visible) or "neither"
        what = " ".join(w for w in (f.side, f.size_word) if w)
        ImageDraw.Draw(tile).text((2, size + 1), f"{name}{f' ({what})' if what else ''} - seen on {seen}",
                                  fill=(255, 255, 0))
        tiles.append(tile)
    _save(_grid(tiles, 2), out)
    return Path(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("sheet")
    s.add_argument("root")
    s.add_argument("out")
    s.add_argument("--studies", type=int, default=8)
    f = sub.add_parser("findings")
    f.add_argument("out")
    f.add_argument("--size", type=int, default=192)
    args = ap.parse_args(argv)
    if args.what == "sheet":
        print(contact_sheet(args.root, args.out, args.studies))
    else:
        print(findings_panel(args.out, args.size))


if __name__ == "__main__":
    main()
