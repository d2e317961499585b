"""Reading and writing files that outlive a run: checkpoints and weight files (:mod:`lit_gans.io.checkpoints`)."""
