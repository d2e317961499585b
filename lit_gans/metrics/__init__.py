"""Evaluation metrics. Generation metrics (docs/metrics.md): ``generation`` (FID/KID with pluggable
features, conditional class accuracy), ``digit_classifier`` (the project's digit CNN), ``inception``
(the standard FID InceptionV3, offline). Submodules are imported explicitly; nothing is re-exported here."""
