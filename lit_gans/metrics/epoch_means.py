"""Item-weighted means of per-batch values over a validation/test epoch, exact under DDP.

``self.log(name, value, sync_dist=True, batch_size=n)`` is not exact when the ranks see different numbers of
items (the unpadded evaluation sampler of ``datamodules.images.eval_sampler`` gives one rank an item more
when the dataset size is not a multiple of the world size): Lightning keeps the accumulated batch size in an
integer tensor and, on gloo, averages it across ranks with an integer division (Lightning 2.6
``fabric/utilities/distributed.py::_sync_ddp``: sizes 2 and 1 average to 1, not 1.5), so the mean comes out
``sum / 2`` instead of ``sum / 3``. torchmetrics' ``MeanMetric`` keeps the weighted sum and the weight as
float states reduced by a sum across ranks, which is exact for any split.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric


class EpochMeans(nn.Module):
    """``update({name: batch mean}, n)`` each step, ``compute()`` at the epoch end: ``{name: dataset mean}``
    (each value weighted by its batch's item count, reduced across DDP ranks), then ``reset()``.

    Names are registered on first use; every rank must see the same names in the same order (true when
    every rank runs at least one step of the same code). The states are not saved in checkpoints.
    """

    def __init__(self) -> None:
        super().__init__()
        self.means = nn.ModuleDict()

    def update(self, values: dict[str, Tensor], n: int) -> None:
        for name, value in values.items():
            if name not in self.means:  # ("val/l1" is a valid ModuleDict key; "." would not be)
                self.means[name] = MeanMetric().to(value.device)
            self.means[name].update(value.detach().float(), weight=float(n))

    def compute(self) -> dict[str, Tensor]:
        return {name: m.compute() for name, m in self.means.items() if m.update_called}

    def reset(self) -> None:
        for m in self.means.values():
            m.reset()

    def compute_and_reset(self) -> dict[str, Tensor]:
        with torch.no_grad():
            out = self.compute()
        self.reset()
        return out
