"""Train a model: ``python train.py [model=cldnn] [key=value ...]``; sweeps with ``-m``.

The config is composed from ``conf/`` (``conf/config.yaml`` lists the groups); the run directory
gets model_summary.txt, tb/, checkpoints/{last,best}.pt and metrics.json. Several processes:
``torchrun --nproc_per_node=N train.py ...`` (DistributedDataParallel; gloo on CPU, NCCL on CUDA).
"""

import sys

import hydra
from omegaconf import DictConfig

from cnnlstm.engine.distributed import hydra_argv_for_rank
from cnnlstm.engine.run import run_job, train


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    return run_job(train, cfg)


if __name__ == "__main__":
    sys.argv = hydra_argv_for_rank(sys.argv)  # under torchrun: one run directory, rank 0's
    main()
