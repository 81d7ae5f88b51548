"""Training throughput: is the data path the bottleneck? (issue 15)

    .venv/bin/python bench/train.py [--sizes 256 512] [--batch 16] [--steps 4]

In one run, on this machine's device, for each image size:

- the data path alone: cached uint8 pairs gathered into batches and moved to
  the model's device (``BatchLoader``, no model), with and without composing
  and augmenting there;
- the same data path as it was before (``--before``, a git revision: one
  float image at a time, augmented per sample in Python), from that
  revision's ``trainer`` package;
- end-to-end training (batches → augment → forward, backward, SGD step) next
  to the bare step on a batch already on the device: same ResNet-18, size,
  batch and precision.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import write_section

from trainer import BatchLoader, PixelCache, ShardStore, build_model, resolve_device
from trainer.batches import PairSource

ROOT = Path(__file__).resolve().parents[1]

# The old per-sample path, run from an older revision's trainer package (unpacked
# in the working directory): images per second through its DataLoader.
_BEFORE = """
import json, sys, time
sys.path[:0] = ["."]
import torch
from torch.utils.data import DataLoader
from trainer import PixelCache
from trainer.data import PairDataset
root, size, count, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
import numpy as np
from pathlib import Path
cache = PixelCache(Path(root), size)
keys = [f"s{i}" for i in range(count)]
data = PairDataset(cache, keys, np.zeros((count, 12), np.float32), train=True)
loader = DataLoader(data, batch_size=batch, shuffle=True, generator=torch.Generator())
start = time.perf_counter()
seen = sum(len(images) for images, _ in loader)
print(json.dumps(seen / (time.perf_counter() - start)))
"""


def fill_cache(root: Path, size: int, count: int) -> list[str]:
    """``count`` random pairs at ``size`` (their content does not matter for speed)."""
    cache = PixelCache(root, size)
    rng = np.random.default_rng(0)
    keys = []
    for i in range(count):
        pair = rng.integers(0, 256, (2, size, size), dtype=np.uint8)
        cache.folder.mkdir(parents=True, exist_ok=True)
        np.save(cache.path(f"s{i}"), pair, allow_pickle=False)
        keys.append(f"s{i}")
    return keys


def data_path(
    cache: PairSource, keys: list[str], device: torch.device, batch: int, augment: bool | None
) -> float:
    """Images/s through the batch path: ``None`` gathers uint8 only, else composes and
    (when ``augment``) augments on the device."""
    loader = BatchLoader(
        cache, keys, device=device, batch_size=batch, shuffle=True, augment=bool(augment)
    )
    start = time.perf_counter()
    seen = 0
    if augment is None:
        for pairs, _ in loader.loader:
            seen += len(pairs.to(device))
    else:
        for images, _ in loader:
            seen += len(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def before(revision: str, root: Path, size: int, count: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "archive", revision, "trainer"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        done = subprocess.run(
            [sys.executable, "-c", _BEFORE, str(root), str(size), str(count), str(batch)],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        )
    return float(json.loads(done.stdout))


def training(
    cache: PairSource, keys: list[str], device: torch.device, batch: int, steps: int
) -> tuple[float, float]:
    """(end-to-end images/s, bare-step images/s) for ResNet-18 with SGD."""
    model = build_model(12).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        loss = loss_fn(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    used = keys[: batch * (steps + 1)]
    targets = np.zeros((len(used), 12), np.float32)
    loader = BatchLoader(
        cache,
        used,
        targets,
        device=device,
        batch_size=batch,
        shuffle=True,
        augment=True,
        drop_last=True,
    )
    batches = iter(loader)
    step(*next(batches))  # warm-up
    start = time.perf_counter()
    for images, labels in batches:
        step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    end_to_end = batch * steps / (time.perf_counter() - start)
    images = torch.rand(batch, 3, cache.size, cache.size, device=device)
    labels = torch.zeros(batch, 12, device=device)
    step(images, labels)
    start = time.perf_counter()
    for _ in range(steps):
        step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return end_to_end, batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--pairs", type=int, default=512, help="cached pairs for the data path")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps")
    parser.add_argument("--before", default="ad8376e", help="revision of the old data path")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    device = resolve_device("auto")
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (f"CPU ({os.cpu_count()} cores)")
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            keys = fill_cache(Path(folder), size, args.pairs)
            cache = PixelCache(Path(folder), size)
            started = time.perf_counter()
            store = ShardStore(cache)
            store.append(keys)
            packing = len(keys) / (time.perf_counter() - started)
            files = data_path(cache, keys, device, args.batch, None)
            gather = data_path(store, keys, device, args.batch, None)
            composed = data_path(store, keys, device, args.batch, True)
            old = before(args.before, Path(folder), size, min(args.pairs, 128), args.batch)
            end_to_end, bare = training(store, keys, device, args.batch, args.steps)
            rows.append(
                f"| {name} | {size} | {args.batch} | fp32 | {packing:,.0f} | {files:,.0f} | "
                f"{gather:,.0f} | {composed:,.0f} | "
                f"{old:,.1f} | {end_to_end:,.1f} | {bare:,.1f} | {end_to_end / bare:.2f} |"
            )
            print(rows[-1], flush=True)
    body = (
        "## Training throughput (data path and step)\n\n"
        f"`.venv/bin/python bench/train.py --sizes {' '.join(map(str, args.sizes))} "
        f"--batch {args.batch} --steps {args.steps}`\n\n"
        "Images per second. *Pack*: per-study cache files packed into shards (once per new "
        "study); *files*: batches read from the per-study files; *gather*: batches gathered "
        "from the shards' memory maps and moved to the device; "
        "*+ compose, augment*: also converted, composed into the model's channels and "
        "augmented per sample on the device; *before*: the previous data path (one float "
        f"image at a time, augmented in Python; `trainer` at {args.before}); *end-to-end*: "
        "batches → augment → ResNet-18 forward, backward, SGD step; *bare step*: the same "
        "step on a batch already on the device.\n\n"
        "| device | size | batch | precision | pack | files | gather | + compose, augment | "
        "before | end-to-end | bare step | end-to-end / bare |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(body)
    if not args.no_write:
        write_section("train", body)


if __name__ == "__main__":
    main()
