"""A training DataLoader whose order depends only on (seed, epoch), and that resumes mid-epoch.

PyTorch's shuffled DataLoader draws its permutation seed and its workers' base seed from the global RNG when
an epoch's iterator starts, so the data order of a resumed run depends on every random number drawn before
(sanity check, validation, the model's noise): a resumed run then sees other batches than the uninterrupted
one. Here the permutation of epoch ``e`` is ``randperm(n)`` from a generator seeded with ``seed + e``, the
workers' base seed comes from the loader's own generator, and the loader implements Lightning's stateful
``state_dict`` / ``load_state_dict`` (epoch and batches consumed), so a checkpoint taken mid-epoch resumes with
the very next batch.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler


def default_seed() -> int:
    """The run's seed (``seed_everything`` exports it as ``PL_GLOBAL_SEED``), else 0."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


class EpochSampler(Sampler[int]):
    """Indices ``0..n-1``, shuffled by ``randperm`` seeded with ``seed + epoch`` (``set_epoch`` is called by
    Lightning at each epoch start), the first ``skip`` of them left out once (mid-epoch resume)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        return iter(self.order()[skip:])

    def __len__(self) -> int:
        return self.n


class _Counting:
    """Iterator wrapper that counts the batches handed out (what a checkpoint must skip on resume)."""

    def __init__(self, inner: Iterator[Any], loader: "ResumableLoader") -> None:
        self.inner, self.loader = inner, loader

    def __iter__(self) -> "_Counting":
        return self

    def __next__(self) -> Any:
        batch = next(self.inner)
        self.loader._consumed += 1
        return batch

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:  # _shutdown_workers and friends of the wrapped iterator
        return getattr(self.inner, name)


class ResumableLoader(DataLoader):
    """``DataLoader(dataset, batch_size, shuffle=True, ...)`` with an order that is a function of (seed, epoch)
    and a mid-epoch resume (Lightning saves ``state_dict()`` in the checkpoint and calls ``load_state_dict``).

    Under DDP Lightning wraps the sampler in a ``DistributedSampler`` (itself seeded by seed and epoch); a
    mid-epoch resume then skips the consumed batches by drawing them (exact, at the cost of decoding them).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = True, seed: Optional[int] = None,
                 sampler: Optional[Sampler] = None, generator: Optional[torch.Generator] = None, **kwargs: Any) -> None:
        seed = default_seed() if seed is None else seed
        if sampler is None:
            sampler = EpochSampler(len(dataset), seed, shuffle)  # type: ignore[arg-type]
        if generator is None:  # the workers' base seed: from the loader, not the global RNG
            generator = torch.Generator()
            generator.manual_seed(seed)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, generator=generator, **kwargs)
        self.seed = seed
        self._consumed = 0
        self._skip = 0

    def _epoch_sampler(self) -> Optional[EpochSampler]:
        sampler = self.batch_sampler.sampler if isinstance(self.batch_sampler, BatchSampler) else self.sampler
        return sampler if isinstance(sampler, EpochSampler) else None

    def __iter__(self) -> Any:  # type: ignore[override]
        skip, self._skip = self._skip, 0
        sampler = self._epoch_sampler()
        if skip and sampler is not None and self.batch_size:
            sampler.skip = skip * self.batch_size  # whole batches: the next batches are the uninterrupted ones
            inner = super().__iter__()
        else:
            inner = super().__iter__()
            for _ in range(skip):  # a wrapped (distributed) sampler: draw the consumed batches
                next(inner)
        self._consumed = skip
        self._processed = None
        self._epoch_done = False
        return _Counting(inner, self)

    def batch_done(self, batches: int) -> None:
        """Called after each training step with the number of batches of this epoch processed so far: the loader's
        own count runs ahead of training (Lightning fetches the next batch before running the step)."""
        self._processed = batches

    def mark_epoch_end(self) -> None:
        """Called when the training epoch ends (it may end before the loader does: ``limit_train_batches``)."""
        self._epoch_done = True

    def state_dict(self) -> dict[str, Any]:
        sampler = self._epoch_sampler()
        done = getattr(self, "_epoch_done", False)
        consumed = getattr(self, "_processed", None)
        consumed = self._consumed if consumed is None else consumed
        return {"consumed": 0 if done else consumed, "epoch": sampler.epoch if sampler is not None else None,
                "epoch_done": done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._skip = int(state.get("consumed", 0))
        sampler = self._epoch_sampler()
        if sampler is not None and state.get("epoch") is not None:
            # the iterator of the resumed epoch is created before Lightning's set_epoch: set it now
            sampler.set_epoch(state["epoch"] + (1 if state.get("epoch_done") else 0))
