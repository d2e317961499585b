"""Evaluation metrics. Generation metrics (docs/metrics.md): ``generation`` (FID/KID with pluggable features,
conditional class accuracy), ``fid_protocols`` (the named FID/KID protocols: torch-fidelity, pytorch-fid,
clean-fid), ``digit_classifier`` (the project's digit CNN), ``inception`` (the standard FID InceptionV3,
offline); ``niqe`` (NIQE, BasicSR's or MATLAB's arithmetic). Submodules are imported explicitly; nothing is
re-exported here."""
