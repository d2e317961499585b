"""lit_gans: PyTorch Lightning GANs that are faithful to their papers.

Networks (``lit_gans.networks``) are plain ``nn.Module``s, losses (``lit_gans.losses``) are pure
functions, and every model (``lit_gans.models``) is a ``GANModule`` whose base class alone owns the
alternating generator/discriminator optimisation. ``lit-gans`` is the LightningCLI entry point.
"""

__version__ = "0.1.0"
