"""MPMA's claim measured directly: each modality helps rebuild the other.

- :func:`finding_word_accuracy`: every pathology term of a study's report (the lexicon's, whole words) is masked and
  predicted by the model's MLM head from the fused text, once with the study's own image and once with another
  study's image (the next study of the batch, in study-id order). The image helps report reconstruction if the
  first accuracy is higher.
- :func:`finding_patch_error`: a fixed share of each frontal image's patches is hidden (the same patches in both
  readings) and rebuilt by the pixel decoder, once with the study's report and once with an empty one; the error
  (normalised-pixel MSE) is taken on the hidden patches that lie inside the study's true finding masks (at least
  half of the patch) and, apart, outside them. The report helps image reconstruction if the first error is lower.

Both run on models with the reconstruction heads (``mlm_head``, ``pixel_decoder``: recipe ``mpma``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from cxrvlp.data.dataset import Collate, StudyDataset
from cxrvlp.data.study import Study
from cxrvlp.data.transforms import Preprocess
from cxrvlp.evaluation.data import crop_mask, evaluated_image
from cxrvlp.layers.patches import normalised_patches, patchify
from cxrvlp.text.masking import IGNORE_INDEX, pathology_spans
from cxrvlp.text.tokenize import Tokenize


def _preprocess(model) -> Preprocess:
    cfg, dc = model.cfg, model.image_encoder.data_config
    return Preprocess(resize=cfg.data.resize, crop=cfg.data.crop, mean=float(dc["mean"][0]),
                      std=float(dc["std"][0]), augment=False)


def _loader(model, studies: list[Study], batch_size: int) -> tuple[DataLoader, Preprocess]:
    pre = _preprocess(model)
    ds = StudyDataset(studies, pre, train=False, use_lateral=False,
                      report_sections=tuple(model.cfg.data.report_sections))
    collate = Collate(Tokenize(model.text_encoder.tokenizer), model.text_encoder.max_length)
    return DataLoader(ds, batch_size=batch_size, collate_fn=collate), pre


def _mask_terms(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Every token of a pathology term of each report → [MASK]; ``(masked ids, labels)``."""
    ids = batch["input_ids"]
    offsets = Tokenize(model.text_encoder.tokenizer)(batch["text"], ids.shape[1], offsets=True)["offsets"]
    hidden = torch.zeros_like(ids, dtype=torch.bool)
    for i, text in enumerate(batch["text"]):
        for start, end in pathology_spans(text):
            for pos, (s, e) in enumerate(offsets[i].tolist()[: ids.shape[1]]):
                if e > s and s < end and start < e:
                    hidden[i, pos] = True
    return ids.masked_fill(hidden, model.text_encoder.mask_token_id), ids.masked_fill(~hidden, IGNORE_INDEX)


@torch.no_grad()
def finding_word_accuracy(model, studies: list[Study], batch_size: int = 16) -> dict:
    """``{"own_image", "other_image"}``: top-1 accuracy over the masked pathology-term pieces, and ``pieces``."""
    if getattr(model, "mlm_head", None) is None:
        raise ValueError(f"recipe {model.cfg.name}: no MLM head (finding-word accuracy needs MPMA's reconstruction)")
    model.eval()
    loader, _ = _loader(model, studies, batch_size)
    hits, count = {"own_image": 0, "other_image": 0}, 0
    for batch in loader:
        masked, labels = _mask_terms(model, batch)
        where = labels != IGNORE_INDEX
        if not where.any() or batch["frontal"].shape[0] < 2:
            continue
        count += int(where.sum())
        for name, images in (("own_image", batch["frontal"]), ("other_image", batch["frontal"].roll(1, 0))):
            text = model.fuse(images, masked, batch["attention_mask"])["text"]
            hits[name] += int((model.mlm_head(text[where]).argmax(-1) == labels[where]).sum())
    return {**{k: v / count if count else float("nan") for k, v in hits.items()}, "pieces": count}


@torch.no_grad()
def finding_patch_error(model, studies: list[Study], ratio: float = 0.75, seed: int = 0, batch_size: int = 16,
                        inside: float = 0.5) -> dict:
    """``{"with_report": {"in_findings", "elsewhere"}, "without_report": {...}, "patches_in_findings"}``."""
    if getattr(model, "pixel_decoder", None) is None:
        raise ValueError(f"recipe {model.cfg.name}: no pixel decoder (finding-patch error needs MPMA's reconstruction)")
    from cxrvlp.evaluation.grounding_eval import patch_fractions

    model.eval()
    loader, pre = _loader(model, studies, batch_size)
    grid = model.image_encoder.feature_grid(pre.crop)
    n = grid[0] * grid[1]
    rng = np.random.default_rng(seed)
    sums = {k: {"in_findings": 0.0, "elsewhere": 0.0} for k in ("with_report", "without_report")}
    counts = {"in_findings": 0, "elsewhere": 0}
    empty = model.text_encoder.tokenize([""] * batch_size)
    for batch in loader:
        b = batch["frontal"].shape[0]
        hidden = torch.zeros(b, n, dtype=torch.bool)
        for i in range(b):
            hidden[i, torch.from_numpy(rng.permutation(n)[: int(round(ratio * n))])] = True
        in_finding = torch.zeros(b, n, dtype=torch.bool)
        for i in range(b):
            study = loader.dataset.studies[int(batch["index"][i])]
            union = None
            for finding, value in study.labels.items():
                if value != 1:
                    continue
                m = crop_mask(evaluated_image(study), study, pre, finding)
                if m is not None:
                    union = m if union is None else union | m
            if union is not None:
                in_finding[i] = torch.from_numpy(patch_fractions(union.numpy(), grid).reshape(-1) >= inside)
        target = normalised_patches(batch["frontal"], model.patch_size) if model.options.norm_pixels else \
            patchify(batch["frontal"], model.patch_size)
        readings = {"with_report": (batch["input_ids"], batch["attention_mask"]),
                    "without_report": (empty["input_ids"][:b], empty["attention_mask"][:b])}
        for name, (ids, mask) in readings.items():
            fused = model.fuse(batch["frontal"], ids, mask, visible=~hidden)
            error = (model.pixel_decoder(fused["image"], fused["token_index"], hidden) - target).square().mean(-1)
            sums[name]["in_findings"] += float(error[hidden & in_finding].sum())
            sums[name]["elsewhere"] += float(error[hidden & ~in_finding].sum())
        counts["in_findings"] += int((hidden & in_finding).sum())
        counts["elsewhere"] += int((hidden & ~in_finding).sum())
    out = {name: {k: v / counts[k] if counts[k] else float("nan") for k, v in parts.items()}
           for name, parts in sums.items()}
    return {**out, "patches_in_findings": counts["in_findings"], "patches_elsewhere": counts["elsewhere"]}
