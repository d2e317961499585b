"""LightningModules, one file per paper family."""
