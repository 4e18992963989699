#!/usr/bin/env bash
# The denoiser vs conv-autoencoder comparison of issue 5: default commands, seeds 0-2.
# Usage: bash experiments/denoising/compare.sh [RUNS_DIR]   (then: python experiments/denoising/table.py RUNS_DIR)
set -euo pipefail
RUNS=${1:-outputs/denoising-compare}
for seed in 0 1 2; do
  for model in denoiser conv_autoencoder; do
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} python train.py model=$model seed=$seed trainer.progress=log \
      hydra.run.dir=$RUNS/$model-$seed
  done
done
python experiments/denoising/table.py "$RUNS"
