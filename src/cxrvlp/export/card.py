"""The model card (``README.md``) of an export: what the model is, what it was trained on, how it scored, how to
load it, and what it is not for. Everything in it is read from the checkpoint and the run folder; nothing is
claimed that the run folder does not show."""
from __future__ import annotations

import json
import math
from pathlib import Path

INTENDED_USE = """\
**Research use only.** This model is a research artefact for studying vision-language pre-training on chest
radiographs. It is not a medical device, has not been validated clinically, and must not be used for diagnosis,
triage, screening or any decision about a patient. Its outputs (embeddings, zero-shot scores, similarity maps) are
not findings. It was trained on the data named below only: its behaviour on other hospitals, scanners, patient
groups, projections or image processing is unknown, and a model trained on the procedural phantom has never seen a
real radiograph. Scores from prompts depend on the prompt wording. Report text in the training data may carry
biases of its authors and institutions."""


def training_data_lines(recipe: dict, run_dir: Path | None) -> list[str]:
    data = recipe.get("data", {})
    lines = [f"- adapter `{data.get('adapter')}`, data root `{data.get('root')}` (recipe `data` section)"
             + (f", at most {data['limit_studies']} studies per split" if data.get("limit_studies") else "")]
    record = _read_json(run_dir / "data.json") if run_dir else None
    if record:
        for split, s in record.get("splits", {}).items():
            lines.append(f"- {split}: {s['studies']} studies, study-id SHA-256 `{s['study_ids_sha256']}`")
        lines.append(f"- skipped inputs: {record.get('skipped') or 'nothing skipped'}")
        if record.get("label_names"):
            lines.append(f"- labels known to the adapter: {', '.join(record['label_names'])}")
    else:
        lines.append("- the run folder holds no `data.json` (runs before cxrvlp 0.2.0): study counts and id hashes "
                     "unknown")
    root = Path(str(data.get("root", "")))
    for name, what in (("manifest.json", "prepared-data manifest"), ("phantom_manifest.json", "phantom manifest")):
        manifest = root / name
        if manifest.is_file():
            from cxrvlp.methods.loading import file_sha256

            lines.append(f"- {what} `{manifest}`: SHA-256 `{file_sha256(manifest)}`")
    return lines


def evaluation_lines(run_dir: Path | None, checkpoint_sha256: str) -> list[str]:
    """Every ``metrics.json`` below the run folder, with the checkpoint it scored (this one or another of the run)."""
    if run_dir is None:
        return ["No run folder (a checkpoint outside `RUN/checkpoints/` was exported): no results looked up."]
    found = sorted(p for p in run_dir.rglob("metrics.json") if "checkpoints" not in p.parts)
    if not found:
        return [f"No `metrics.json` in `{run_dir}`: this model has not been evaluated there (`cxrvlp evaluate`)."]
    lines = []
    for path in found:
        results = _read_json(path)
        if not results:
            continue
        proto = results.get("protocol", {})
        sha = proto.get("checkpoint_sha256") or (proto.get("encoder") or {}).get("checkpoint_sha256")
        which = ("this checkpoint" if sha == checkpoint_sha256 else
                 f"another checkpoint (`{str(sha)[:12]}`)" if sha else "an unrecorded model")
        split = proto.get("split") or ", ".join(f"{k} {v}" for k, v in (proto.get("n_studies") or {}).items()
                                                if isinstance(proto.get("n_studies"), dict))
        ids = proto.get("study_ids_sha256")
        ids = ids if isinstance(ids, str) else ", ".join(f"{k} `{v}`" for k, v in (ids or {}).items())
        lines += [f"### `{path.relative_to(run_dir)}`", "",
                  f"{proto.get('task', 'evaluation')} of {which}; data `{proto.get('adapter')}` "
                  f"(`{proto.get('data_root')}`), split {split}; study ids SHA-256 {ids or 'not recorded'}.", ""]
        rows = results.get("summary") or []
        if rows:
            lines += ["| data set | metric | fraction | value |", "|---|---|---|---:|"]
            for r in rows:
                lines.append(f"| {r.get('dataset')} | {r.get('metric')} | {r.get('fraction')} | "
                             f"{_value(r.get('mean'), r.get('std'), r.get('n'))} |")
        lines.append("")
    return lines or ["No readable `metrics.json` in the run folder."]


def model_card(config: dict, run_dir: Path | None) -> str:
    recipe = config["recipe"]
    src = config["source"]
    img, txt, pre = config["image_encoder"], config["text_encoder"], config["preprocess"]
    ls = config.get("logit_scale")
    trainer = recipe.get("trainer", {})
    epoch = src.get("epoch")
    trained = f"{epoch + 1} of {trainer.get('max_epochs')} epochs" if isinstance(epoch, int) else "unknown epochs"
    timm_kw = ", ".join(f"{k}={v!r}" for k, v in config["timm"]["create_model_kwargs"].items() if k not in
                        ("in_chans", "num_classes"))
    overlay = config["timm"]["pretrained_cfg_overlay"]
    lines = [
        f"# cxrvlp model: recipe `{config['recipe_name']}`", "",
        f"Image and text encoders pre-trained together by cxrvlp {config['cxrvlp_version']} (recipe "
        f"`{config['recipe_name']}`, model `{config['model']}`), exported from "
        f"`{src['checkpoint']}` (SHA-256 `{src['checkpoint_sha256']}`) after {trained} "
        f"(step {src.get('global_step')}).", "",
        "## Intended use and limits", "", INTENDED_USE, "",
        "## Model", "",
        f"- image encoder: `{img['name']}` (timm `{img['timm_model']}`, {img['family']}, {img['in_chans']} input "
        f"channel(s)), global features {img['global_dim']}, local features {img['local_dim']} on a "
        f"{img['grid'][0]}×{img['grid'][1]} grid",
        f"- text encoder: `{txt['name']}` ({txt.get('architecture')}, {txt.get('pooling')} pooling, "
        f"{txt.get('max_length')} tokens at most, vocabulary {txt.get('vocab_size')})",
        f"- projections to a {config['embed_dim']}-d joint space: {json.dumps(config['projection'])}",
        f"- logit scale: {ls['value']:.4g} (1 / temperature of objective `{ls['objective']}`"
        f"{', learned' if ls['learnable'] else ', fixed'})" if ls else "- logit scale: none (no image-text "
        "contrastive objective with a temperature)",
        "- objectives: " + ", ".join(f"`{k}` ({v.get('name')})" for k, v in recipe.get("objectives", {}).items()),
        "",
        "## Training data", "", *training_data_lines(recipe, run_dir),
        f"- optimiser: AdamW lr {recipe.get('optim', {}).get('lr')}, batch size "
        f"{recipe.get('data', {}).get('batch_size')}, seed {trainer.get('seed')}", "",
        "## Preprocessing (the one training used; `preprocess` applies it)", "",
        f"- read as grey at full bit depth: {pre['bit_depth']}",
        f"- resize the long side to {pre['resize']} px, zero-pad to {pre['resize']}×{pre['resize']}, centre crop "
        f"{pre['crop']}×{pre['crop']}",
        f"- channels: {pre['channels']}; normalise with mean {pre['mean']}, std {pre['std']}", "",
        "## Evaluation results found in the run folder", "", *evaluation_lines(run_dir, src["checkpoint_sha256"]), "",
        "## Loading", "",
        "```python",
        "import cxrvlp, torch",
        "model, preprocess, tokenizer = cxrvlp.load(\"THIS_FOLDER\")   # checks SHA256SUMS first",
        "images = torch.stack([preprocess(p) for p in [\"a.png\", \"b.dcm\"]])   # paths, PIL images or arrays",
        "img = model.encode_image(images, normalize=True)",
        "txt = model.encode_text(tokenizer([\"Small left pleural effusion.\"]), normalize=True)",
        "local = model.image_encoder(images).local_features            # [B, N, C] for dense tasks",
        "",
        "import timm                                                     # the image tower alone",
        f"enc = timm.create_model(\"{config['timm']['model_name']}\", pretrained=True, in_chans={img['in_chans']}, "
        f"num_classes=0{', ' + timm_kw if timm_kw else ''},",
        f"                        pretrained_cfg_overlay=dict(file=\"THIS_FOLDER/{config['timm']['file']}\", "
        f"input_size={tuple(overlay['input_size'])}, mean={tuple(overlay['mean'])}, std={tuple(overlay['std'])}))",
        "# or timm.create_model(\"local-dir:THIS_FOLDER/image\", pretrained=True)",
        "",
        "from transformers import AutoModel, AutoTokenizer                # the text tower alone (no projection)",
        "text = AutoModel.from_pretrained(\"THIS_FOLDER/text\")            # its pooler is not part of the export",
        "tok = AutoTokenizer.from_pretrained(\"THIS_FOLDER/text\")",
        "```", "",
        "The timm and transformers copies are the towers without the projection heads; the joint space needs "
        "`cxrvlp.load`.", "",
        "## Files", "",
        "`model.safetensors` (towers and projections), `config.json` (recipe, encoders, preprocessing), `text/` "
        "(transformers config, weights, tokenizer), `image/` (timm config and weights), `SHA256SUMS` (every file; "
        "`sha256sum -c SHA256SUMS`).", "",
    ]
    return "\n".join(lines)


def _value(mean, std, n) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    return f"{mean:.4f} ± {std:.4f} (n={n})" if n and n > 1 else f"{mean:.4f}"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
