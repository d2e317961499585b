"""Pure loss functions: tensors in, scalar tensor out."""

from lit_gans.losses.adversarial import GAN_LOSSES
from lit_gans.losses.penalties import drift_penalty, gradient_penalty

__all__ = ["GAN_LOSSES", "gradient_penalty", "drift_penalty"]
