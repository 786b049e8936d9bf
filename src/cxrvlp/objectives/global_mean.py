"""Means over a subset of the global batch whose size differs between processes (studies with a lateral view,
masked tokens), taken so that the mean over processes that DDP applies to gradients is the global-batch mean."""
from __future__ import annotations

import torch

from cxrvlp import distributed


def global_mean(total: torch.Tensor, count: torch.Tensor | int) -> torch.Tensor:
    r"""``total`` (this process's sum over its selected items) and ``count`` (how many) →
    :math:`W \cdot \text{total} / \sum_{\text{processes}} \text{count}`, so that averaging this value over the
    :math:`W` processes gives :math:`\sum \text{total} / \sum \text{count}`. 0 (still attached to the graph) when
    no process selected anything."""
    count = torch.as_tensor(count, dtype=total.dtype, device=total.device)
    return total * distributed.world_size() / distributed.all_reduce_sum(count).clamp_min(1.0)
