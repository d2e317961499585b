"""Weight initialisation shared by the DCGAN family and the pix2pix/CycleGAN family."""

from __future__ import annotations

from torch import nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Conv/linear weights ~ N(0, std), biases 0; affine norm weights ~ N(1, std), biases 0.

    std = 0.02: Radford et al. 2016 (DCGAN, Sec. 4) and junyanz ``init_weights(init_type='normal',
    init_gain=0.02)`` for pix2pix/CycleGAN.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module
