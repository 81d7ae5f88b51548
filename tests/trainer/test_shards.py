"""Shards of the pixel cache: packed, appended, re-packed when a pair changes, kill-safe."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from tests.conftest import Interpreter
from trainer import PixelCache, ShardStore

ROOT = Path(__file__).resolve().parents[2]


def _fill(cache: PixelCache, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    keys = []
    for i in range(n):
        cache.put(f"k{i}", rng.random((40, 30)), rng.random((30, 40)))
        keys.append(f"k{i}")
    return keys


def test_packed_pairs_read_back_and_the_store_grows(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path, 16)
    keys = _fill(cache, 10)
    store = ShardStore(cache, shard_size=4)
    assert store.append(keys[:6]) == 6 and store.append(keys[:6]) == 0
    assert store.append(keys) == 4 and len(store) == 10
    again = ShardStore(cache, shard_size=4)  # from the index on disk
    order = ["k7", "k0", "k5", "k3"]
    np.testing.assert_array_equal(again.gather(order), np.stack([cache.get(k) for k in order]))
    assert sorted(p.name for p in again.folder.glob("shard-*.npy")) == [
        "shard-00000.npy",
        "shard-00001.npy",
        "shard-00002.npy",
    ]
    # a pair cached again (its study paired anew) is packed again; the newer copy is read
    time.sleep(0.01)
    cache.put("k3", np.ones((40, 30)), np.zeros((30, 40)))
    assert again.append(keys) == 1
    np.testing.assert_array_equal(ShardStore(cache).get("k3"), cache.get("k3"))


_WRITER = """
import sys
from pathlib import Path
from trainer import PixelCache, ShardStore
cache = PixelCache(Path(sys.argv[1]), 256)
store = ShardStore(cache, shard_size=8)
store.append([f"k{i}" for i in range(400)])
"""


def test_a_kill_mid_append_leaves_only_whole_shards(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    cache = PixelCache(tmp_path, 256)
    keys = _fill(cache, 400)
    index = cache.folder / "shards" / "index.json"
    writer = subprocess.Popen(
        new_interpreter.argv("-c", _WRITER, str(tmp_path)),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 60
    while not index.is_file() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = ShardStore(cache, shard_size=8)
    assert 0 < len(store) < 400  # killed in the middle
    packed = [k for k in keys if k in store]
    np.testing.assert_array_equal(store.gather(packed), np.stack([cache.get(k) for k in packed]))
    # the next run packs the rest; a half-written shard file left behind is not read
    assert store.append(keys) == 400 - len(packed)
    final = ShardStore(cache)
    np.testing.assert_array_equal(
        final.gather(keys[-5:]), np.stack([cache.get(k) for k in keys[-5:]])
    )
