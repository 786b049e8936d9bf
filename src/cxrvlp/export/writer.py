"""``cxrvlp export RUN_OR_CKPT --out DIR``: a folder that describes and checks itself, needing nothing outside it.

::

    DIR/model.safetensors    image tower, text tower, projections (no optimiser or objective state)
    DIR/config.json          recipe, encoder names and options, embedding width, preprocessing, logit scale
    DIR/text/                the text tower as a transformers folder: config.json, model.safetensors, tokenizer
    DIR/image/               the image tower as a timm folder: config.json (pretrained_cfg with the training
                             preprocessing), model.safetensors
    DIR/README.md            model card: intended use and limits, training data, evaluation results of the run
    DIR/SHA256SUMS           every other file (``sha256sum -c SHA256SUMS``); cxrvlp.load checks it

The folder is written under a temporary name beside ``DIR`` and renamed when complete, then loaded back and its
image embeddings compared with the checkpoint's.
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from cxrvlp.export.card import model_card
from cxrvlp.export.loader import (
    CHECKSUMS,
    CONFIG,
    FORMAT,
    IMAGE_DIR,
    TEXT_DIR,
    WEIGHTS,
    from_checkpoint,
)

VERIFY_TOLERANCE = 1e-5


@dataclass
class ExportReport:
    folder: Path
    checkpoint: Path
    run_dir: Path | None
    files: dict[str, str]  # relative path -> SHA-256
    max_abs_diff: float  # image embeddings of the loaded export vs the checkpoint's, on a fixed random batch


def resolve_source(source: str | Path) -> tuple[Path, Path | None]:
    """``(checkpoint, run folder or None)`` for a run folder (its ``checkpoints/last.ckpt``) or a ``.ckpt``."""
    source = Path(source).expanduser()
    if source.is_dir():
        ckpt = source / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{source}: no checkpoints/last.ckpt (give a cxrvlp pretrain run folder or a "
                                    ".ckpt)")
        return ckpt, source
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such run folder or checkpoint")
    run = source.parent.parent if source.parent.name == "checkpoints" else None
    return source, run if run is not None and (run / "config.yaml").is_file() else None


def export_model(source: str | Path, out: str | Path, text_path: str | Path | None = None,
                 overwrite: bool = False) -> ExportReport:
    """Export the checkpoint of ``source`` (a run folder or a ``.ckpt``) into the folder ``out`` (module docstring).
    ``text_path``: where the recipe's local text model folder is now, if it moved. ``out`` must be new or empty; with
    ``overwrite`` an earlier export there is replaced (any other non-empty folder is refused)."""
    ckpt, run_dir = resolve_source(source)
    out = Path(out).expanduser()
    _check_target(out, overwrite)
    model = from_checkpoint(ckpt, text=True, text_path=text_path)
    config = {**model.config, "source": {**model.config["source"], "run_dir": str(run_dir) if run_dir else None}}
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        _write(tmp, model, config, run_dir)
        files = write_checksums(tmp)
        if out.exists():
            shutil.rmtree(out) if any(out.iterdir()) else out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    diff = _verify(out, model)
    return ExportReport(out, ckpt, run_dir, files, diff)


def _check_target(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    try:
        is_export = json.loads((out / CONFIG).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        is_export = False
    if not is_export:
        raise ValueError(f"{out}: a non-empty folder that is not a cxrvlp export; choose a new --out")
    if not overwrite:
        raise ValueError(f"{out}: holds an export already; pass --overwrite to replace it")


def _write(folder: Path, model, config: dict, run_dir: Path | None) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt", "producer": f"cxrvlp {config['cxrvlp_version']}",
                                                      "recipe": config["recipe_name"]})
    with _quiet_transformers():
        text_dir = folder / TEXT_DIR
        model.text_encoder.model.save_pretrained(str(text_dir), safe_serialization=True)
        model.text_encoder.tokenizer.save_pretrained(str(text_dir))
    _write_timm(folder / IMAGE_DIR, model.image_encoder, config)
    (folder / CONFIG).write_text(json.dumps(config, indent=2, default=_json_default) + "\n")
    (folder / "README.md").write_text(model_card(config, run_dir))


def _write_timm(folder: Path, image_encoder, config: dict) -> None:
    """The timm module with ``save_for_hf``: loadable with ``timm.create_model(name, pretrained=True,
    pretrained_cfg_overlay=dict(file=.../model.safetensors), ...)`` or ``timm.create_model("local-dir:...")``."""
    from timm.models import save_for_hf

    pre = config["preprocess"]
    timm_cfg = config["timm"]
    data_config = {"input_size": tuple(timm_cfg["pretrained_cfg_overlay"]["input_size"]), "mean": tuple(pre["mean"]),
                   "std": tuple(pre["std"]), "crop_pct": pre["crop"] / pre["resize"], "interpolation": "bilinear",
                   "crop_mode": "center"}
    save_for_hf(image_encoder.model, str(folder), model_args=dict(timm_cfg["create_model_kwargs"]),
                safe_serialization=True, data_config=data_config,
                model_config={"pretrained_cfg": {"tag": f"cxrvlp_{config['recipe_name']}", "license": None,
                                                 "hf_hub_id": None}})


def write_checksums(folder: Path) -> dict[str, str]:
    """``SHA256SUMS`` over every file below ``folder`` (sorted, ``sha256sum`` format)."""
    from cxrvlp.methods.loading import file_sha256

    files = {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != CHECKSUMS}
    (folder / CHECKSUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in files.items()))
    return files


def _verify(folder: Path, model) -> float:
    """Load the written folder back and compare its image embeddings with the checkpoint model's."""
    from cxrvlp.export.loader import load

    loaded, _, _ = load(folder)
    pre = model.config["preprocess"]
    x = torch.randn(2, pre["in_chans"], pre["crop"], pre["crop"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = float((loaded.encode_image(x) - model.encode_image(x)).abs().max())
    if not diff <= VERIFY_TOLERANCE:
        raise RuntimeError(f"{folder}: the export's image embeddings differ from the checkpoint's by {diff:.3g}")
    return diff


@contextmanager
def _quiet_transformers():
    """No "Writing model shards" progress bars from transformers while saving."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        yield
        return
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    return str(o)
