#!/usr/bin/env bash
# One `lit-gans test` results folder per model family, on the embedded data, for docs/evaluation.md.
# The weights are the YAMLs' fresh initialisation (seed_everything: 0), not trained models: the tables show the
# format and the protocol, not paper-scale numbers.   Usage: bash benchmarks/evaluation_examples.sh [out_dir]
set -euo pipefail
out=${1:-docs/evaluation_examples}
configs="dcgan_digits cgan_digits progan_digits pix2pix_embedded colorization_embedded cyclegan_embedded enlightengan_embedded srresnet_embedded context_encoder_embedded_random_region"
for c in $configs; do
  tmp=$(mktemp -d)
  python -m lit_gans test --config "experiments/$c.yaml" --trainer.logger=false --trainer.enable_progress_bar=false \
    --trainer.default_root_dir="$tmp" --trainer.callbacks+=lit_gans.evaluation.TestReport \
    --trainer.callbacks.num_examples=2 --trainer.callbacks.dirpath="$tmp/results" > "$tmp/log.txt" 2>&1 \
    || { tail -20 "$tmp/log.txt"; exit 1; }
  rm -rf "${out:?}/$c"
  mkdir -p "$out"
  mv "$tmp"/results/* "$out/$c"
  rm -rf "$tmp"
  echo "$c: $out/$c/results.md"
done
