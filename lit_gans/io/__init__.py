"""Reading and writing model files: checkpoints, official weight files, the registry of official weights."""
