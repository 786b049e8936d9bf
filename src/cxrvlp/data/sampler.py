"""A sampler whose order and per-item augmentation seeds depend only on (seed, epoch).

Training randomness in the data therefore does not depend on the global RNG, the number of loader workers or
where a run was interrupted: a resumed run and a multi-process run see exactly the batches and crops an
uninterrupted single-process run would. Like ``DistributedSampler`` it shards the epoch over processes
(padding by repetition so every process gets the same number of items).
"""
from __future__ import annotations

import math

import torch
from torch.utils.data import Sampler

from cxrvlp import distributed


class SeededSampler(Sampler):
    """Yields ``(index, item_seed)`` pairs; :class:`~cxrvlp.data.dataset.StudyDataset` draws its random crop,
    jitter and view choice from ``torch.Generator().manual_seed(item_seed)``, and batch targets
    (:mod:`cxrvlp.data.targets`) draw from it too. An unshuffled (evaluation) sampler keeps the seeds of epoch 0
    in every epoch, so validation masks the same words each time."""

    def __init__(self, n: int, seed: int, shuffle: bool = True, weights=None):
        """``weights [n]`` (optional, shuffled sampling only): each epoch draws ``n`` items with replacement with
        these relative probabilities (mixing collections of different sizes) instead of a permutation."""
        self.n, self.seed, self.shuffle, self.epoch = n, int(seed), shuffle, 0
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if self.weights is not None and (self.weights.shape != (n,) or not shuffle or (self.weights < 0).any()):
            raise ValueError("sampler weights must be n non-negative values, for shuffled sampling")

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before every epoch
        self.epoch = int(epoch)

    def _shard(self) -> tuple[int, int]:
        return distributed.world_size(), distributed.rank()

    def __len__(self) -> int:
        world, _ = self._shard()
        return math.ceil(self.n / world)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + (self.epoch if self.shuffle else 0))
        if self.weights is not None:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        else:
            order = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        seeds = torch.randint(0, 2**62, (self.n,), generator=g)
        world, rank = self._shard()
        total = len(self) * world
        order = torch.cat([order, order[: total - self.n]]) if total > self.n else order
        for i in order[rank::world].tolist():
            yield i, int(seeds[i])
