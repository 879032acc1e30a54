"""Data-parallel training under ``torchrun``: the process group and its few collectives.

``torchrun --nproc_per_node N --no-python cance train-ae ...`` starts N copies
of a command with ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` set. :func:`join_from_environment` joins them into one
``torch.distributed`` group (gloo on CPU, NCCL on CUDA); the training loops
then shard their rows with ``DistributedSampler``, wrap their network in
``DistributedDataParallel`` and ask :func:`current` whether they are rank 0,
the only one that writes artifacts and prints. Without those variables (or
with ``WORLD_SIZE=1``) everything runs as one process and nothing here costs
anything.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Group:
    """Where this process stands: rank ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Group()


def requested() -> bool:
    """Did a launcher (torchrun) ask for more than one process?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join_from_environment(device: str = "auto") -> Group:
    """Join the process group torchrun describes (once per process); a single
    process when it describes none. ``device`` picks the backend: NCCL when the
    run uses CUDA, gloo otherwise."""
    if not requested():
        return SINGLE
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return current()


def current() -> Group:
    """The group this process belongs to (a single process if none was joined)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return SINGLE
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def launched_group(device: str = "auto") -> Iterator[Group]:
    """For a command: join the group torchrun launched (if any) for the block,
    and leave it afterwards, also when the block fails."""
    group = join_from_environment(device)
    try:
        yield group
    finally:
        if group.active:
            leave()


def leave() -> None:
    """Leave the process group (at the end of a command)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device, group: Group):
    """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK`` in a group."""
    import torch

    if group.active and device.type == "cuda":
        return torch.device("cuda", group.local_rank)
    return device


# Rank r of a group draws its own random numbers from seed + r * this (rank 0: a single
# process's seed), so ranks sample different rows, noise and chains.
RANK_SEED_STRIDE = 104_729


def rank_seed(seed: int, group: Group) -> int:
    """The seed of this rank's own draws (``seed`` itself on rank 0 and in one process)."""
    return seed + RANK_SEED_STRIDE * group.rank


def local_batch_size(global_batch: int, group: Group) -> int:
    """Rows per process and step so the steps see ``global_batch`` rows in all
    (rounded up when it does not divide)."""
    return max(1, -(-global_batch // group.world_size))


def shard(index: np.ndarray, seed: int, epoch: int, group: Group) -> np.ndarray:
    """This rank's rows of ``index`` for one epoch, shuffled: ``DistributedSampler``
    with ``seed`` and ``set_epoch(epoch)`` (every rank draws the same
    permutation and takes every world_size-th row of it, padded to equal length)."""
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(len(index)), num_replicas=group.world_size, rank=group.rank, shuffle=True,
                                 seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    return index[np.fromiter(iter(sampler), dtype=np.int64)]


def gather_rows(tensor):
    """Every rank's rows of ``tensor``, concatenated in rank order, with gradients
    flowing back to each rank's own rows (``torch.distributed.nn.all_gather``)."""
    import torch
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor))


def average_gradients(params) -> None:
    """Average the gradients of ``params`` over the ranks (for tensors outside a DDP module)."""
    import torch.distributed as dist

    world = dist.get_world_size()
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def broadcast_module_buffers(module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (batch-norm running statistics) to every rank,
    so that evaluation, model selection and the saved model agree everywhere."""
    import torch.distributed as dist

    for buf in module.buffers():
        dist.broadcast(buf, src)


def merge_moments(moments):
    """The :class:`~cance_cli.nce.stats.StreamingMoments` of all ranks' rows:
    each rank's (count, mean, scatter) gathered as one float64 tensor and
    folded in rank order with the same pairwise formula a single process uses
    between batches."""
    import torch
    import torch.distributed as dist

    from cance_cli.nce.stats import StreamingMoments

    dim = moments.dim
    mine = torch.from_numpy(np.concatenate([[float(moments.count)], moments.mean, moments.scatter.ravel()]))
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    merged = StreamingMoments(dim)
    for part in parts:
        flat = part.numpy()
        merged.merge(int(round(flat[0])), flat[1:1 + dim], flat[1 + dim:].reshape(dim, dim))
    return merged


def all_sum(*values: float) -> list[float]:
    """Each value summed over the ranks (losses and row counts for reports)."""
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return [float(v) for v in t]


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _global_batch_norm_forward(bn):
    """A training-mode forward for ``bn`` with the statistics of every rank's rows
    (sums all-reduced with gradients, as SyncBatchNorm does on CUDA)."""
    import torch
    from torch.distributed.nn.functional import all_reduce

    plain = bn.forward

    def forward(x):
        if not bn.training:
            return plain(x)
        dims = [0, *range(2, x.dim())]  # every axis but the channels
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        total = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        c = x.shape[1]
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():  # running statistics as BatchNorm keeps them (unbiased variance)
            m = bn.momentum if bn.momentum is not None else 0.1
            bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            bn.running_var.mul_(1 - m).add_(var.detach() * n / max(float(n) - 1, 1.0), alpha=m)
            bn.num_batches_tracked += 1
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps)
        if bn.affine:
            y = y * bn.weight.view(shape) + bn.bias.view(shape)
        return y

    return forward


@contextlib.contextmanager
def global_batch_norm(module) -> Iterator[None]:
    """Within the block, every batch norm of ``module`` normalises a training
    batch with the statistics of all ranks' rows (CPU/gloo, where torch's
    SyncBatchNorm does not run); the plain layers come back afterwards."""
    from torch import nn

    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.track_running_stats]
    for bn in norms:
        bn.forward = _global_batch_norm_forward(bn)
    try:
        yield
    finally:
        for bn in norms:
            del bn.forward
