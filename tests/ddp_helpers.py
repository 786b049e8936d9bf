"""Run a function in N CPU processes joined by a gloo process group (for single- vs multi-process equality tests)."""
from __future__ import annotations

import os
import pickle
import socket

import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, world, port, fn, args, queue):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # plain pickle copies tensors by value: a multiprocessing queue would share their memory with this process,
        # which may have exited by the time the parent reads them
        queue.put((rank, pickle.dumps(fn(rank, world, *args))))
    finally:
        dist.destroy_process_group()


def run_in_processes(fn, world: int, *args, timeout: float = 120.0) -> list:
    """``fn(rank, world, *args)`` in ``world`` spawned processes; returns their results ordered by rank.
    ``fn`` must be a module-level function and its result picklable."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_entry, args=(r, world, port, fn, args, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = {rank: pickle.loads(blob) for rank, blob in (queue.get(timeout=timeout) for _ in procs)}
    for p in procs:
        p.join(timeout=60)
    return [results[r] for r in range(world)]
