"""History of generated images for the discriminator (Shrivastava et al. 2017, Sec. 2.3; CycleGAN
Zhu et al. 2017, Sec. 4: "a history of the 50 previously generated images").

Behaviour of junyanz/pytorch-CycleGAN-and-pix2pix ``util/image_pool.py`` ``ImagePool.query``: while the
pool holds fewer than ``pool_size`` images, each new image is stored and returned; once it is full,
each image is, with probability 1/2, swapped with a uniformly chosen stored image (the stored one is
returned, the new one takes its place), else returned as is. So after the pool fills, half of what the
discriminator sees comes from the history.

Here the pool is a preallocated tensor on the device (no host round trip: the coin flips come from
Python's ``random``, never from tensor values), one pool per process under DDP (each rank keeps the
history of its own generator outputs, like the official single-process code does per process), and
its content is part of the checkpoint (see :meth:`ImagePool.state_dict`; models gather every rank's
pool into the checkpoint).
"""

from __future__ import annotations

import random
from typing import Any, Optional

import torch
from torch import Tensor


class ImagePool:
    """Image buffer of ``pool_size`` images; ``pool_size = 0`` disables it (``query`` returns its input).

    Args:
        pool_size: images kept (50: junyanz ``--pool_size``, CycleGAN paper Sec. 4).
        rng: source of the coin flips and slot choices (default: the global ``random`` module, whose state
            ``GANModule`` keeps in the checkpoint and decorrelates across ranks).
    """

    def __init__(self, pool_size: int = 50, rng: Optional[random.Random] = None) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.rng = rng or random
        self.num_images = 0
        self.images: Optional[Tensor] = None  # [pool_size, C, H, W], allocated at the first query

    def __len__(self) -> int:
        return self.num_images

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """Return a batch of the same shape as ``images`` (detached), mixing in stored history."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        if self.images is None:
            self.images = images.new_zeros((self.pool_size, *images.shape[1:]))
        elif self.images.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"ImagePool holds images of shape {tuple(self.images.shape[1:])} but got {tuple(images.shape[1:])}; "
                "the discriminator's pool needs a fixed training crop size (set the datamodule's crop_size)"
            )
        elif self.images.device != images.device or self.images.dtype != images.dtype:
            self.images = self.images.to(images.device, images.dtype)
        out = images.clone()
        for i in range(images.shape[0]):
            if self.num_images < self.pool_size:
                self.images[self.num_images] = images[i]
                self.num_images += 1
            elif self.rng.uniform(0, 1) > 0.5:  # junyanz: p > 0.5 -> return a stored image and replace it
                slot = self.rng.randint(0, self.pool_size - 1)
                out[i] = self.images[slot]
                self.images[slot] = images[i]
        return out

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        return {"pool_size": self.pool_size, "num_images": self.num_images, "images": self.images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("pool_size", self.pool_size) != self.pool_size:
            raise ValueError(
                f"checkpoint image pool has pool_size={state['pool_size']}, this model {self.pool_size}; "
                "resume with the same pool_size"
            )
        self.num_images = int(state["num_images"])
        images = state.get("images")
        self.images = None if images is None else images.clone()
