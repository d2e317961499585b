"""Moved to :mod:`lit_gans.datasets.embedded` (plain loaders belong below the datamodules, so that the digit
classifier of ``lit_gans.metrics`` can read the digits too). Re-exported here so that imports written before
the move keep working."""

from lit_gans.datasets.embedded import (  # noqa: F401
    HELDOUT_PHOTOS,
    TRAIN_PHOTOS,
    cache_dir,
    load_digits,
    load_photos,
    photos_folder,
)
