"""Process-group helpers that are safe when torch.distributed is not initialised (single process)."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every process along dim 0; gradients flow back to each process's own slice.

    Every process must pass the same shape. A no-op in a single process.
    """
    if not is_distributed():
        return x
    # the functional collective torch names as the successor of the deprecated torch.distributed.nn.all_gather;
    # its backward reduce-scatters (sums) the gradient to each process's slice, on gloo and NCCL alike
    return funcol.wait_tensor(funcol.all_gather_single_autograd(x, 0, dist.group.WORLD))


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over processes (no gradient); a no-op in a single process."""
    if is_distributed():
        x = x.clone()
        dist.all_reduce(x)
    return x
