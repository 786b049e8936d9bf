"""Torch dataset over :class:`Study` records and the collate function that batches studies with/without laterals."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from cxrvlp.data import transforms
from cxrvlp.data.prepared import ShardRef, read_image
from cxrvlp.data.study import Study
from cxrvlp.data.targets import apply_targets

Tokenizer = Callable[[list[str], int], dict[str, torch.Tensor]]


class StudyDataset(Dataset):
    """One item per study: a frontal image, the lateral image if the study has one, the report text and labels.

    Items are dicts: ``frontal [1, C, C]``, ``lateral [1, C, C]`` or ``None``, ``text`` (str), ``labels [L]``
    (float; NaN where the label is not given), ``index``, ``study_id`` and ``seed`` (the sampler's item seed, or
    the index without one), from which batch targets are drawn. With ``cache_resized`` the resized
    uint8 image is kept in memory after the first read (per worker process), which removes JPEG decoding from
    every later epoch.
    """

    def __init__(self, studies: Sequence[Study], preprocess: transforms.Preprocess, train: bool,
                 label_names: Sequence[str] = (), use_lateral: bool = True,
                 report_sections: tuple[str, ...] = ("FINDINGS", "IMPRESSION"), cache_resized: bool = False,
                 unpaired: bool = False):
        if not studies:
            raise ValueError("StudyDataset got no studies (check the data root and split)")
        no_frontal = [s.study_id for s in studies if not s.frontal]
        if no_frontal and not unpaired:
            raise ValueError(f"{len(no_frontal)} studies have no frontal image (e.g. {no_frontal[:3]}); an image "
                             "data set needs images (report-only adapters such as iu_xray_reports are for text work)")
        self.studies = list(studies)
        self.preprocess, self.train = preprocess, train
        self.label_names = tuple(label_names)
        self.use_lateral, self.report_sections = use_lateral, report_sections
        self._cache: dict[str, torch.Tensor] | None = {} if cache_resized else None
        self.unpaired = unpaired

    def __len__(self) -> int:
        return len(self.studies)

    def _image(self, path, generator: torch.Generator | None = None) -> torch.Tensor:
        key = str(path)
        if self._cache is not None and key in self._cache:
            img = self._cache[key].float() / 255.0
        elif isinstance(path, ShardRef):  # prepared shard: resized uint8 in a memory map, no decoding, no cache
            img = read_image(path, self.preprocess.resize)
        else:
            img = transforms.resize_pad(transforms.load_gray(path), self.preprocess.resize)
            if self._cache is not None:  # use the stored 8-bit image from the first read on, so epochs agree
                self._cache[key] = (img * 255.0).round().to(torch.uint8)
                img = self._cache[key].float() / 255.0
        return transforms.crop_normalise(img, self.preprocess, self.train, generator)

    def _pick(self, images, generator: torch.Generator | None):
        if self.train and len(images) > 1:
            return images[int(torch.randint(len(images), (1,), generator=generator))]
        return images[0]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """``key`` is an index, or ``(index, seed)`` from :class:`~cxrvlp.data.sampler.SeededSampler`: the item's
        random choices then come from its own generator, not the global RNG."""
        i, seed = key if isinstance(key, tuple) else (key, None)
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        study = self.studies[i]
        if study.frontal:
            frontal = self._image(self._pick(study.frontal, g).path, g)
        else:  # a report-only study (unpaired data): no image loss sees this stand-in (has_image is false)
            frontal = torch.zeros(1, self.preprocess.crop, self.preprocess.crop)
        lateral = None
        if self.use_lateral and study.lateral:
            lateral = self._image(self._pick(study.lateral, g).path, g)
        labels = torch.tensor([study.labels.get(n, math.nan) for n in self.label_names], dtype=torch.float32)
        return {"index": i, "seed": seed if seed is not None else i, "study_id": study.study_id, "frontal": frontal,
                "has_image": bool(study.frontal), "lateral": lateral, "text": study.report_text(self.report_sections),
                "labels": labels}


class Collate:
    """Batch items; laterals are packed (``lateral [L, 1, C, C]`` with ``lateral_index [L]`` into the batch) and
    ``has_lateral [B]`` marks which studies have one, so no loss ever sees a fake blank image. ``has_image [B]`` and
    ``has_report [B]`` mark the studies of unpaired data (a report-only study's frontal is a zero stand-in that
    only losses reading ``has_image`` may be given). ``targets`` (:func:`cxrvlp.data.targets.build_targets`) add
    their keys, drawn from each item's seed."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, targets: Sequence = ()):
        self.tokenizer, self.max_length, self.targets = tokenizer, max_length, list(targets)
        self.needs_offsets = any(getattr(t, "needs_offsets", False) for t in self.targets)

    def __call__(self, items: list[dict]) -> dict:
        frontal = torch.stack([it["frontal"] for it in items])
        lat_idx = [i for i, it in enumerate(items) if it["lateral"] is not None]
        lateral = (torch.stack([items[i]["lateral"] for i in lat_idx]) if lat_idx
                   else frontal.new_zeros((0, *frontal.shape[1:])))
        texts = [it["text"] for it in items]
        tokens = (self.tokenizer(texts, self.max_length, offsets=True) if self.needs_offsets
                  else self.tokenizer(texts, self.max_length))
        batch = {
            "frontal": frontal,
            "lateral": lateral,
            "lateral_index": torch.tensor(lat_idx, dtype=torch.long),
            "has_lateral": torch.tensor([it["lateral"] is not None for it in items]),
            "has_image": torch.tensor([it.get("has_image", True) for it in items]),
            "has_report": torch.tensor([bool(t.strip()) for t in texts]),
            "input_ids": tokens["input_ids"],
            "attention_mask": tokens["attention_mask"],
            "labels": torch.stack([it["labels"] for it in items]),
            "index": torch.tensor([it["index"] for it in items]),
            "study_id": [it["study_id"] for it in items],
            "text": texts,
        }
        seeds = [it.get("seed", it["index"]) for it in items]
        return apply_targets(self.targets, batch, tokens, seeds)
