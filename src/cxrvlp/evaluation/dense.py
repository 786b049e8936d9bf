"""``cxrvlp evaluate segment`` and ``cxrvlp evaluate detect``: label-fraction × seed runs of a dense head (U-Net
decoder or FCOS) on the encoder's feature pyramid, cached once when the encoder is frozen.

Both tasks share the runner; a task says what its targets are, how to build, train and score its head, and how to
draw its overlays. Images whose annotation is missing (e.g. the Shenzhen images without a lung mask, or COVID images
without lung boxes) are counted in the protocol and left out of that task.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cxrvlp.evaluation import fractions as fr
from cxrvlp.evaluation import head_training as ht
from cxrvlp.evaluation import plots
from cxrvlp.evaluation.data import EvalData, box_classes, crop_boxes, crop_masks, evaluated_image, mask_classes
from cxrvlp.evaluation.detection import IOU_THRESHOLDS, PyramidFCOS, mean_average_precision, require_pycocotools
from cxrvlp.evaluation.encoder_source import EncoderSource
from cxrvlp.evaluation.features import cached_features, load_images, pyramid
from cxrvlp.evaluation.results import protocol, summary_markdown, summary_row, write_run
from cxrvlp.evaluation.segmentation import UNetDecoder, dice_iou, segmentation_loss

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)


@dataclass
class TrainingPlan:
    """Optimiser steps = epochs · ⌈n_train / batch⌉ within [min_steps, max_steps] (sized for a CPU)."""

    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    min_steps: int = 60
    max_steps: int = 400


class SegmentationTask:
    name, metric = "segmentation", "Dice"

    def __init__(self, classes: tuple[str, ...], missing: str, decoder_channels=(64, 32, 16)):
        self.classes, self.missing, self.decoder_channels = classes, missing, decoder_channels

    def targets(self, studies, pre):
        return [crop_masks(s, pre, self.classes, self.missing) for s in studies]

    def presence(self, targets) -> np.ndarray:
        return torch.stack([t.flatten(1).any(1) for t in targets]).float().numpy()

    def build(self, channels, strides, size):
        return UNetDecoder(channels, strides, len(self.classes), size, self.decoder_channels[: len(channels) - 1])

    def loss(self, head, feats, targets):
        return segmentation_loss(head(feats), torch.stack(targets))

    def predict(self, outputs) -> list:
        return [m for batch in outputs for m in (batch.sigmoid() > 0.5)]

    def score(self, preds, targets) -> dict:
        dice, iou = dice_iou(torch.stack(preds), torch.stack(targets))
        per_class = {c: {"dice": float(dice[:, k].mean()), "iou": float(iou[:, k].mean())}
                     for k, c in enumerate(self.classes)}
        return {"dice": float(dice.mean(0).mean()), "iou": float(iou.mean(0).mean()), "per_class": per_class}

    def overlay(self, images, targets, preds, titles, path):
        return plots.segmentation_overlays(images, torch.stack(targets), torch.stack(preds), self.classes, titles,
                                           path)


class DetectionTask:
    name, metric = "detection", "mAP"

    def __init__(self, classes: tuple[str, ...], missing: str, fpn_channels: int = 64):
        self.classes, self.missing, self.fpn_channels = classes, missing, fpn_channels

    def targets(self, studies, pre):
        out = []
        for s in studies:
            t = crop_boxes(evaluated_image(s), pre, self.classes)
            out.append(t if len(t["boxes"]) or self.missing == "empty" else None)
        return out

    def presence(self, targets) -> np.ndarray:
        return np.array([[float((t["labels"] == k).any()) for k in range(len(self.classes))] for t in targets])

    def build(self, channels, strides, size):
        return PyramidFCOS(channels, strides, len(self.classes), size, self.fpn_channels)

    def loss(self, head, feats, targets):
        return sum(head(feats, targets).values())

    def predict(self, outputs) -> list:
        return [d for batch in outputs for d in batch]

    def score(self, preds, targets) -> dict:
        m = mean_average_precision(preds, targets)
        m["map_per_class"] = {self.classes[k]: v for k, v in m["map_per_class"].items() if 0 <= k < len(self.classes)}
        return m

    def overlay(self, images, targets, preds, titles, path):
        return plots.detection_overlays(images, targets, preds, self.classes, titles, path)


def _usable(studies, targets, split: str, dropped: dict) -> tuple[list, list]:
    keep = [i for i, t in enumerate(targets) if t is not None]
    if len(keep) < len(targets):
        dropped[split] = len(targets) - len(keep)
    return [studies[i] for i in keep], [targets[i] for i in keep]


def evaluate_dense(task, source: EncoderSource, data: EvalData, out_dir: str | Path,
                   fractions: tuple[float, ...] = DEFAULT_FRACTIONS, seeds: tuple[int, ...] = (0,),
                   finetune: bool = False, plan: TrainingPlan | None = None, cache_dir: str | Path | None = None,
                   dataset_name: str | None = None, progress: bool = True) -> dict:
    plan = plan or TrainingPlan()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = dataset_name or data.adapter
    pre, size = source.preprocess, source.preprocess.crop
    studies, targets, dropped = {}, {}, {}
    for split in ("train", "test"):
        studies[split], targets[split] = _usable(data.splits[split], task.targets(data.splits[split], pre), split,
                                                 dropped)
        if not studies[split]:
            raise ValueError(f"{data.root}: no {split} image of adapter {data.adapter!r} has annotations for "
                             f"{list(task.classes)} ({dropped.get(split, 0)} without; --missing empty counts a "
                             f"missing annotation as empty)")
    if finetune:
        inputs = {k: load_images(v, source) for k, v in studies.items()}
        with torch.no_grad():
            probe = pyramid(source.encoder, inputs["train"][:1])
        channels, strides = [m.shape[1] for m in probe], [size // m.shape[-1] for m in probe]
    else:
        feats = {k: cached_features(source, v, "pyramid", cache_dir, progress=progress, description=f"pyramid {k}")
                 for k, v in studies.items()}
        inputs = {k: v[0] for k, v in feats.items()}
        channels, strides = [m.shape[1] for m in inputs["train"]], list(feats["train"][1])

    presence = task.presence(targets["train"])
    runs, subsets = [], {}
    for fraction in fractions:
        for seed in seeds:
            idx = fr.sample_fraction(presence, fraction, seed)
            subsets[f"{fr.fraction_name(fraction)}/seed{seed}"] = [studies["train"][i].study_id for i in idx]
            torch.manual_seed(seed)
            head = task.build(channels, strides, size)
            enc = copy.deepcopy(source.encoder).requires_grad_(True) if finetune else None
            train_in = inputs["train"][idx] if finetune else [m[idx] for m in inputs["train"]]
            train_t = [targets["train"][i] for i in idx]
            steps = ht.training_steps(len(idx), plan.batch_size, plan.epochs, plan.min_steps, plan.max_steps)
            losses = ht.train(head, ht.FeatureSource(train_in, "pyramid", enc), len(idx),
                              lambda h, f, b: task.loss(h, f, [train_t[i] for i in b.tolist()]), steps,
                              plan.batch_size, plan.lr, seed=seed, progress=progress,
                              description=f"{task.name} {fr.fraction_name(fraction)} seed {seed}")
            test_source = ht.FeatureSource(inputs["test"], "pyramid", enc)
            preds = task.predict(ht.predict(head, test_source, len(studies["test"]), plan.batch_size))
            runs.append({"fraction": fraction, "seed": seed, "n_train": int(len(idx)), "steps": steps,
                         "final_loss": float(np.mean(losses[-10:])), **task.score(preds, targets["test"])})
            if fraction == max(fractions) and seed == seeds[0]:
                pick = plots.pick_examples(len(preds))
                images = load_images([studies["test"][i] for i in pick], source)
                task.overlay(images, [targets["test"][i] for i in pick], [preds[i] for i in pick],
                             [studies["test"][i].study_id for i in pick], out / f"{task.name}_overlays.png")

    key = "dice" if task.name == "segmentation" else "map"
    summary = [summary_row(dataset, task.metric, fr.fraction_name(f), [r[key] for r in runs if r["fraction"] == f])
               for f in fractions]
    if task.name == "segmentation":
        summary += [summary_row(dataset, "IoU", fr.fraction_name(f), [r["iou"] for r in runs if r["fraction"] == f])
                    for f in fractions]
    fr.write_fraction_ids(out / "fraction_ids.json", subsets)
    head_desc = (f"U-Net decoder {list(task.decoder_channels)}" if task.name == "segmentation"
                 else f"FPN({task.fpn_channels}) + FCOS head (torchvision), IoU thresholds {list(IOU_THRESHOLDS)}")
    results = {
        "protocol": protocol(task.name, source, data, classes=list(task.classes), missing_annotation=task.missing,
                             images_without_annotation=dropped, fractions=list(fractions), seeds=list(seeds),
                             fraction_ids="fraction_ids.json", finetune=finetune, head=head_desc,
                             training=vars(plan), evaluated_split="test"),
        "summary": summary, "runs": runs,
    }
    title = f"{dataset}: {task.name}{' (fine-tuned)' if finetune else ''} ({source.label})"
    write_run(out, results, summary_markdown(summary, title))
    return results


def segmentation_task(data: EvalData, classes: tuple[str, ...] = (), missing: str | None = None) -> SegmentationTask:
    """Classes default to every mask class of the training split; a missing mask is empty only on the phantom."""
    classes = tuple(classes) or mask_classes(data.splits["train"])
    if not classes:
        raise ValueError(f"{data.root}: adapter {data.adapter!r} gives no masks to segment")
    return SegmentationTask(classes, missing or ("empty" if data.adapter == "phantom" else "skip"))


def detection_task(data: EvalData, classes: tuple[str, ...] = (), missing: str | None = None) -> DetectionTask:
    require_pycocotools()  # the optional `detection` extra: fail now, not after training the heads
    classes = tuple(classes) or box_classes(data.splits["train"])
    if not classes:
        raise ValueError(f"{data.root}: adapter {data.adapter!r} gives no boxes to detect")
    return DetectionTask(classes, missing or ("empty" if data.adapter == "phantom" else "skip"))
