"""Train without the daemon, in torchvision's reference-script shape.

    python -m trainer --cache DATA/cache --size 512 --targets targets.csv --output DIR

``targets.csv`` has a ``key`` column (the cache key: a pseudonymous study UID),
one column per finding (``1``, ``0``, or empty when not labelled) and a
``split`` column (``train`` or ``held_out``). The output folder receives
``model.pt`` (resumed when it is there with the same configuration and data),
``held_out.csv`` (probabilities per held-out study) and ``metrics.json`` (AUC
per finding on the held-out studies). pacslabel writes the targets of every
model it trains next to its checkpoint and records this command with it.

On several GPUs or machines, start it with ``torchrun`` (DistributedDataParallel:
``--batch-size`` is then the global batch, shared among the processes; process 0
writes the results)::

    torchrun --nproc_per_node 8 -m trainer --cache … --targets … --output …
    torchrun --nnodes 2 --node_rank 0 --rdzv_endpoint HOST:29500 --nproc_per_node 8 -m trainer …
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from scoring import aucs_by_finding
from trainer.cache import PixelCache
from trainer.config import TrainConfig
from trainer.engine import distributed, fit
from trainer.runs import read_targets

__all__ = ["get_args_parser", "main"]


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer", description=__doc__.split("\n\n")[0], add_help=add_help
    )
    parser.add_argument("--cache", type=Path, required=True, help="pixel cache folder")
    parser.add_argument("--targets", type=Path, required=True, help="targets CSV")
    parser.add_argument("--output", type=Path, required=True, help="folder for the results")
    TrainConfig.add_arguments(parser)  # the rest: one option per field of the configuration
    return parser


def main(args: argparse.Namespace) -> int:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        return _train(args)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(args: argparse.Namespace) -> int:
    findings, splits = read_targets(args.targets)
    (train_keys, train_targets), (held_keys, held_targets) = splits["train"], splits["held_out"]
    config = TrainConfig.from_args(args, tuple(findings))
    manifest = hashlib.sha256(args.targets.read_bytes()).hexdigest()
    result = fit(
        config,
        PixelCache(args.cache, config.image_size),
        train_keys,
        train_targets,
        held_keys,
        args.output / "model.pt",
        manifest_hash=manifest,
        code_version="python -m trainer",
    )
    if distributed()[0] != 0:
        return 0  # process 0 writes the results
    probabilities = result.held_out_probabilities
    with (args.output / "held_out.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", *findings])
        for key, row in zip(held_keys, probabilities, strict=True):
            writer.writerow([key, *(f"{p:.6f}" for p in row)])
    aucs = aucs_by_finding(held_targets, probabilities, findings)
    (args.output / "metrics.json").write_text(
        json.dumps({"held_out_auc": aucs, "final_loss": result.final_loss}, indent=2),
        encoding="utf-8",
    )
    print(json.dumps({"held_out_auc": aucs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
