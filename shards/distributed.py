"""Which process this is in a distributed run: one helper for the loader and both trainers.

torchrun describes a run through ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; once the
process group is up, torch.distributed is the authority. Everything that needs to know
its rank (the loader splitting shards, a trainer writing logs on rank 0) asks here.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(rank, world size): from torch.distributed when initialised, else RANK/WORLD_SIZE, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: str = "auto") -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes (if any) and pick this rank's device.

    ``device`` is ``"auto"`` (this rank's GPU, ``cuda:LOCAL_RANK``, when there is one,
    else the CPU) or a torch device name. NCCL joins GPUs, gloo CPUs.
    """
    if device == "auto":
        chosen = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu")
    else:
        chosen = torch.device(device)
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    rank, world = rank_and_world()
    return rank, world, chosen
