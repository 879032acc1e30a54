"""A replay buffer of chain end points (persistent starts for the next chains)."""

from __future__ import annotations

from collections.abc import Callable

import torch


class ReplayBuffer:
    """Holds up to ``capacity`` rows (oldest replaced first). ``starts(n, fresh)`` draws
    each of ``n`` starting points from the buffer with probability ``reuse`` (once it
    holds rows), otherwise from ``fresh(k)``."""

    def __init__(self, capacity: int = 10_000, reuse: float = 0.95, seed: int = 0):
        if capacity < 1 or not 0.0 <= reuse <= 1.0:
            raise ValueError("capacity must be >= 1 and reuse in [0, 1]")
        self.capacity = capacity
        self.reuse = reuse
        self._rows: torch.Tensor | None = None
        self._next = 0
        self._gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 0 if self._rows is None else len(self._rows)

    def push(self, rows: torch.Tensor) -> None:
        rows = rows.detach().cpu()
        if self._rows is None:
            self._rows = rows[: self.capacity].clone()
            self._next = len(self._rows) % self.capacity
            rows = rows[self.capacity:]
        for row_block in rows.split(self.capacity):
            if len(self._rows) < self.capacity:  # still filling
                room = self.capacity - len(self._rows)
                self._rows = torch.cat([self._rows, row_block[:room]])
                row_block = row_block[room:]
                self._next = len(self._rows) % self.capacity
            if len(row_block):
                idx = (self._next + torch.arange(len(row_block))) % self.capacity
                self._rows[idx] = row_block
                self._next = int((self._next + len(row_block)) % self.capacity)

    def starts(self, n: int, fresh: Callable[[int], torch.Tensor]) -> tuple[torch.Tensor, int]:
        """``n`` starting rows and how many came from the buffer."""
        if not len(self):
            return fresh(n), 0
        from_buffer = torch.rand(n, generator=self._gen) < self.reuse
        k = int(from_buffer.sum())
        out = fresh(n)
        if k:
            picks = torch.randint(len(self), (k,), generator=self._gen)
            out[from_buffer.to(out.device)] = self._rows[picks].to(out.device, out.dtype)
        return out, k
