"""The run layer: one folder and one W&B run per experiment, checkpoints that are never lost, the callbacks.

    lit_gans.run.layout      the run folder: where checkpoints, samples, W&B files, configs and test results go
    lit_gans.run.plan        what ``lit-gans`` decides before anything is built (folder, ``last``, W&B run), in steps
    lit_gans.run.checkpoint  RunCheckpoint (atomic writes through lit_gans.io.checkpoints, SLURM requeue)
    lit_gans.run.wandb       the W&B run: offline without a key, names, group/job type/tags, the run id
    lit_gans.run.callbacks   SampleGridLogger, RunTracker (keeps the W&B run id), PredictionWriter, RunConfigSaver
    lit_gans.run._lightning  every use of Lightning's private API (nothing else in lit_gans touches one)

This file imports nothing, so that ``lit_gans.run._lightning`` is a leaf any module may import.
"""
