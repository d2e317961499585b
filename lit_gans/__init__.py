"""lit_gans: PyTorch Lightning GANs that are faithful to their papers.

Networks (``lit_gans.networks``) are plain ``nn.Module``s, losses (``lit_gans.losses``) are pure
functions, and every model (``lit_gans.models``) is a ``GANModule`` whose base class alone owns the
alternating generator/discriminator optimisation. ``lit-gans`` is the LightningCLI entry point.

Importing lit_gans before torch chooses torch's CPU thread count for a busy machine (``lit_gans/threads.py``);
set ``OMP_NUM_THREADS`` (or ``LIT_GANS_THREADS=off``) to decide yourself.
"""

from lit_gans import threads as _threads

_threads.configure()  # before anything imports torch: libgomp reads OMP_NUM_THREADS when torch loads it

__version__ = "0.1.0"
