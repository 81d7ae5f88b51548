"""The pixel cache packed for training: uint8 shards read through memory maps.

The pipeline caches each study's pair as its own file (:class:`PixelCache`: written
once, atomically, as studies arrive). Training reads thousands of pairs per
epoch, so before it trains the pairs are packed into shards — one
``(n, 2, size, size)`` uint8 ``.npy`` per up to ``shard_size`` studies under
``<cache>/<size>/shards/`` — with an index (``index.json``) of which key is in
which shard and row, and the modification time of the file it was packed from.
The store grows by appending shards as the corpus grows; a pair cached again
since it was packed (its study paired anew) is packed again, and the index
points to the newer copy.

A shard is written to a ``.part`` file and renamed; the index is rewritten the
same way after it, so a process killed at any moment leaves either the old
index or the new one, each naming only complete shards (a shard file the index
does not name is ignored and overwritten by the next append).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from trainer.cache import PixelCache
from trainer.files import write_atomically

__all__ = ["ShardStore"]


class ShardStore:
    """Packed pairs of one image size.

    Parameters
    ----------
    cache
        The per-study cache the pairs come from (and whose folder holds the shards).
    shard_size
        Studies per shard.
    """

    def __init__(self, cache: PixelCache, shard_size: int = 1024) -> None:
        self.cache, self.size, self.shard_size = cache, cache.size, shard_size
        self.folder = cache.folder / "shards"
        self._index_path = self.folder / "index.json"
        self._shards: list[dict[str, object]] = []
        self._where: dict[str, tuple[int, int]] = {}
        self._stamps: dict[str, int] = {}
        self._maps: dict[int, np.ndarray] = {}
        self._load_index()

    def _load_index(self) -> None:
        if not self._index_path.is_file():
            return
        data = json.loads(self._index_path.read_text(encoding="utf-8"))
        if data.get("size") != self.size:
            raise ValueError(f"{self._index_path}: shards of size {data.get('size')}")
        self._shards = list(data["shards"])
        self._where = {}
        for number, shard in enumerate(self._shards):
            keys: list[str] = list(shard["keys"])  # type: ignore[call-overload]
            stamps: list[int] = list(shard["stamps"])  # type: ignore[call-overload]
            self._where.update({key: (number, row) for row, key in enumerate(keys)})
            self._stamps.update(zip(keys, stamps, strict=True))

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def __len__(self) -> int:
        return len(self._where)

    def append(self, keys: Iterable[str]) -> int:
        """Pack the cached pairs of ``keys`` that no shard holds yet; returns how many.

        Raises
        ------
        FileNotFoundError
            A key is not in the per-study cache.
        """
        stamps = {k: self.cache.path(k).stat().st_mtime_ns for k in dict.fromkeys(keys)}
        new = [k for k, stamp in stamps.items() if self._stamps.get(k) != stamp]
        self.folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(new), self.shard_size):
            chunk = new[start : start + self.shard_size]
            name = f"shard-{len(self._shards):05d}.npy"

            def write(tmp: Path, chunk: list[str] = chunk) -> None:
                array = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=np.uint8, shape=(len(chunk), 2, self.size, self.size)
                )
                for row, key in enumerate(chunk):
                    array[row] = self.cache.get(key)
                array.flush()
                del array

            write_atomically(self.folder / name, write)
            self._shards.append({"file": name, "keys": chunk, "stamps": [stamps[k] for k in chunk]})
            number = len(self._shards) - 1
            self._where.update({key: (number, row) for row, key in enumerate(chunk)})
            self._stamps.update({key: stamps[key] for key in chunk})
            index = json.dumps({"size": self.size, "shards": self._shards})
            write_atomically(
                self._index_path, functools.partial(Path.write_text, data=index, encoding="utf-8")
            )
        return len(new)

    def _map(self, number: int) -> np.ndarray:
        if number not in self._maps:
            path = self.folder / str(self._shards[number]["file"])
            self._maps[number] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._maps[number]

    def get(self, key: str) -> np.ndarray:
        """The ``(2, size, size)`` uint8 pair (a copy)."""
        number, row = self._where[key]
        return np.array(self._map(number)[row])

    def gather(self, keys: Sequence[str]) -> np.ndarray:
        """``(len(keys), 2, size, size)`` uint8, read shard by shard."""
        out = np.empty((len(keys), 2, self.size, self.size), dtype=np.uint8)
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for position, key in enumerate(keys):
            number, row = self._where[key]
            by_shard.setdefault(number, []).append((position, row))
        for number, pairs in by_shard.items():
            positions, rows = zip(*pairs, strict=True)
            out[list(positions)] = self._map(number)[list(rows)]
        return out

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_maps"] = {}  # memory maps are reopened in a DataLoader worker
        return state
