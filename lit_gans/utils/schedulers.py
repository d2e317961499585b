"""Learning-rate schedules used by the papers, as ``LRScheduler`` classes settable from YAML."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class _LinearDecayFactor:
    """Picklable factor so ``LambdaLR.state_dict`` saves it with the checkpoint."""

    def __init__(self, n_constant: int, n_decay: int, start: int) -> None:
        self.n_constant, self.n_decay, self.start = n_constant, n_decay, start

    def __call__(self, t: int) -> float:
        return 1.0 - max(0, t + self.start - self.n_constant) / float(self.n_decay + 1)


class LinearDecay(LambdaLR):
    """Constant learning rate for ``n_constant`` periods, then linear decay over ``n_decay`` more.

    The factor is junyanz/pytorch-CycleGAN-and-pix2pix ``networks.get_scheduler`` ('linear'):
    ``1 - max(0, t + start - n_constant) / (n_decay + 1)`` with ``start`` = ``epoch_count`` = 1 there,
    so the last of the ``n_constant + n_decay`` periods runs at ``1/(n_decay+1)`` of the base rate and
    the rate reaches zero right after. A period is what the model steps the scheduler on
    (``scheduler_interval``: an epoch for pix2pix/CycleGAN/EnlightenGAN, as officially).

    Args:
        optimizer: the optimizer (given by the model; not set in YAML).
        n_constant: periods at the base rate (pix2pix/CycleGAN ``n_epochs`` = 100).
        n_decay: periods of linear decay (``n_epochs_decay`` = 100).
        start: junyanz's ``epoch_count`` (1).
    """

    def __init__(self, optimizer: Optimizer, n_constant: int = 100, n_decay: int = 100, start: int = 1) -> None:
        super().__init__(optimizer, _LinearDecayFactor(n_constant, n_decay, start))
