"""Lightning DataModule: adapter → studies per split → StudyDataset → DataLoader with the collate (and its batch
targets)."""
from __future__ import annotations

import logging

import lightning as L
import torch
from torch.utils.data import DataLoader

from cxrvlp.data.adapters import get_adapter, load_studies
from cxrvlp.data.dataset import Collate, StudyDataset, Tokenizer
from cxrvlp.data.sampler import SeededSampler
from cxrvlp.data.targets import TargetContext, build_targets
from cxrvlp.data.transforms import Preprocess
from cxrvlp.recipe import DataConfig

log = logging.getLogger(__name__)


class StudyDataModule(L.LightningDataModule):
    """``tokenizer``: a :class:`~cxrvlp.text.tokenize.Tokenize`; ``max_length``: the text encoder's token length.
    The recipe's ``data.targets`` are built here and drawn in the collate."""

    def __init__(self, cfg: DataConfig, tokenizer: Tokenizer, mean: float, std: float, seed: int = 0,
                 max_length: int = 128, image_grid: tuple[int, int] | None = None):
        super().__init__()
        self.cfg, self.seed = cfg, seed
        self.preprocess = Preprocess(resize=cfg.resize, crop=cfg.crop, mean=mean, std=std, augment=cfg.augment)
        self.label_names = get_adapter(cfg.adapter).labels_for(cfg.root)
        context = TargetContext(tokenizer=getattr(tokenizer, "tokenizer", None), label_names=self.label_names,
                                image_grid=image_grid)
        self.collate = Collate(tokenizer, max_length, build_targets(cfg.targets, context))
        self.datasets: dict[str, StudyDataset] = {}
        self.train_weights: torch.Tensor | None = None
        self.skip_summary = ""

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        studies, skips = load_studies(self.cfg.adapter, self.cfg.root, ("train", "validate", "test"))
        self.skip_summary = skips.summary()
        if skips.counts:
            log.warning("%s: skipped inputs: %s", self.cfg.root, self.skip_summary)
        for split in ("train", "validate", "test"):
            part = [s for s in studies if s.split == split]
            if self.cfg.limit_studies:
                part = part[: self.cfg.limit_studies]
            if part:
                self.datasets[split] = self.make_dataset(part, train=split == "train")
        if "train" not in self.datasets:
            raise ValueError(f"{self.cfg.root}: no training studies found ({self.skip_summary})")
        if self.cfg.collections:
            self.train_weights = self._mix_collections()

    def _mix_collections(self) -> torch.Tensor:
        """Add the training studies of ``data.collections`` to the training set; per-item sampling weights
        ``weight_c / size_c`` (the main collection: weight 1)."""
        main = self.datasets["train"].studies
        parts, weights = [main], [torch.full((len(main),), 1.0 / len(main), dtype=torch.float64)]
        for spec in self.cfg.collections:
            spec = dict(spec)
            unknown = set(spec) - {"adapter", "root", "weight"}
            if unknown or "adapter" not in spec or "root" not in spec:
                raise KeyError(f"data.collections: each entry is {{adapter, root, weight}}, got {sorted(spec)}")
            studies, skips = load_studies(spec["adapter"], spec["root"], ("train",))
            if skips.counts:
                log.warning("%s: skipped inputs: %s", spec["root"], skips.summary())
            if not studies:
                raise ValueError(f"data.collections: {spec['root']} ({spec['adapter']}) has no training studies")
            parts.append(studies)
            weights.append(torch.full((len(studies),), float(spec.get("weight", 1.0)) / len(studies),
                                      dtype=torch.float64))
            log.info("mixing %d training studies of %s (%s), weight %s", len(studies), spec["root"],
                     spec["adapter"], spec.get("weight", 1.0))
        self.datasets["train"] = self.make_dataset([s for p in parts for s in p], train=True)
        return torch.cat(weights)

    def make_dataset(self, studies, train: bool) -> StudyDataset:
        return StudyDataset(studies, self.preprocess, train=train, label_names=self.label_names,
                            use_lateral=self.cfg.use_lateral, report_sections=tuple(self.cfg.report_sections),
                            cache_resized=self.cfg.cache_resized, unpaired=self.cfg.unpaired)

    def loader(self, split: str, shuffle: bool = False, drop_last: bool = False) -> DataLoader:
        ds = self.datasets[split]
        weights = self.train_weights if split == "train" and shuffle else None
        # The loader gets its own generator so that creating it never advances the global RNG (which a resumed
        # run restores); order and augmentation come from the seeded sampler.
        return DataLoader(ds, batch_size=self.cfg.batch_size,
                          sampler=SeededSampler(len(ds), self.seed, shuffle, weights),
                          num_workers=self.cfg.num_workers, collate_fn=self.collate, drop_last=drop_last,
                          persistent_workers=self.cfg.num_workers > 0, generator=torch.Generator())

    def train_dataloader(self) -> DataLoader:
        # drop_last keeps every contrastive batch full, so per-step losses are comparable and DDP shapes match.
        return self.loader("train", shuffle=True, drop_last=len(self.datasets["train"]) > self.cfg.batch_size)

    def val_dataloader(self):
        return self.loader("validate") if "validate" in self.datasets else []
