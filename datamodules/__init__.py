"""LightningDataModules of lit_gans. CPU workers only decode; augmentation runs on the device."""
