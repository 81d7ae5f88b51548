"""Reading an instance nobody vouches for: limits checked before the work they bound.

A PACS holds every vendor's mistakes and an attacker's files. :func:`read_instance`
refuses, with the limit named, a file larger than ``max_instance_bytes``; a
deflated data set that inflates past ``max_inflated_bytes`` (inflated in bounded
steps, never whole first); sequences nested deeper than ``max_sequence_depth``;
and pixel data that would decode past ``max_decoded_bytes`` — rows × columns ×
frames × samples × bits allocated, and for compressed pixel data the size its
own codestream header claims (JPEG, JPEG-LS, JPEG 2000), read before anything is
decoded, which must also agree with Rows and Columns.
"""

from __future__ import annotations

import mmap
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_fragments
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from pacsbridge.errors import InvalidInstance
from pacsbridge.structure import structure_damage

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_pixels",
    "codestream_size",
    "inflate",
    "inflate_chunks",
    "j2k_damage",
    "read_instance",
    "sequence_depth",
]

_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What one instance may cost (the settings' ``[limits]``)."""

    max_instance_bytes: int = 256 * _MiB
    max_inflated_bytes: int = 512 * _MiB
    max_decoded_bytes: int = 512 * _MiB
    max_sequence_depth: int = 12
    max_report_chars: int = 200_000


#: The defaults, for callers that set none.
DEFAULT_LIMITS = Limits()


def sequence_depth(ds: Dataset) -> int:
    """How deep sequences nest in ``ds`` (0: none), without recursion."""
    deepest, pending = 0, [(ds, 0)]
    while pending:
        current, depth = pending.pop()
        deepest = max(deepest, depth)
        for elem in current:
            if elem.VR == "SQ" and elem.value:
                pending += [(item, depth + 1) for item in elem.value]
    return deepest


def _inflate_to(path: Path, meta: FileMetaDataset, limits: Limits, out: IO[bytes]) -> None:
    """Write the file, its deflated data set inflated, to ``out`` as an Explicit VR Little
    Endian file: in bounded steps, never more than ``max_inflated_bytes``, never whole in
    memory."""
    data = path.read_bytes()
    start = data.find(b"DICM") + 4
    explicit = FileMetaDataset(meta)
    explicit.TransferSyntaxUID = ExplicitVRLittleEndian
    header = DicomBytesIO()
    write_file_meta_info(header, explicit, enforce_standard=False)
    out.write(b"\0" * 128 + b"DICM" + header.getvalue())
    for chunk in inflate_chunks(
        data[_meta_end(data, start) :], limits.max_inflated_bytes, path.name
    ):
        out.write(chunk)
    out.flush()


def inflate_chunks(compressed: bytes, limit: int, where: object) -> Iterator[bytes]:
    """A deflated data set (PS3.5 A.5) inflated in bounded pieces, never past ``limit``.

    Raises
    ------
    InvalidInstance
        It inflates past ``limit``, or is not deflate data.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total, step = 0, 64 * 1024
    try:
        for offset in range(0, len(compressed), step):
            pending = compressed[offset : offset + step]
            while pending:
                piece = inflater.decompress(pending, 16 * _MiB)
                pending = inflater.unconsumed_tail
                total += len(piece)
                if total > limit:
                    raise InvalidInstance(
                        where,
                        f"the deflated data set inflates past limits.max_inflated_mb "
                        f"({limit // _MiB} MB)",
                    )
                yield piece
        yield inflater.flush()
    except zlib.error as exc:
        raise InvalidInstance(where, f"the deflated data set does not inflate: {exc}") from None


def inflate(compressed: bytes, limit: int, where: object) -> bytes:
    """A deflated data set inflated whole (:func:`inflate_chunks`), never past ``limit``."""
    return b"".join(inflate_chunks(compressed, limit, where))


def _meta_end(data: bytes | mmap.mmap, start: int) -> int:
    """Where the file meta information (group 0002, explicit VR little endian) ends."""
    position = start
    while position + 8 <= len(data):
        group, _ = struct.unpack_from("<HH", data, position)
        if group != 0x0002:
            return position
        vr = data[position + 4 : position + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            (length,) = struct.unpack_from("<I", data, position + 8)
            position += 12 + length
        else:
            (length,) = struct.unpack_from("<H", data, position + 6)
            position += 8 + length
    return position


def read_instance(
    path: Path, limits: Limits = DEFAULT_LIMITS, *, tags: list[str] | None = None
) -> Dataset:
    """Read a DICOM file within ``limits`` (only the attributes ``tags`` when given: what
    filing an instance needs, without its pixel data).

    Raises
    ------
    InvalidInstance
        Not DICOM, or over a limit (the message names it).
    """
    size = path.stat().st_size
    if size > limits.max_instance_bytes:
        raise InvalidInstance(
            path.name,
            f"{size // _MiB} MB, over limits.max_instance_mb ({limits.max_instance_bytes // _MiB})",
        )
    try:
        meta = read_file_meta_info(path)  # the data set itself is not touched yet
        syntax = meta.get("TransferSyntaxUID")
        if not isinstance(syntax, UID) or not syntax.is_transfer_syntax:
            raise InvalidInstance(path.name, "no known transfer syntax in the file meta header")
        if syntax == DeflatedExplicitVRLittleEndian:
            with tempfile.TemporaryFile(dir=path.parent) as inflated:
                _inflate_to(path, meta, limits, inflated)
                _check_structure(inflated, ExplicitVRLittleEndian, limits, path.name)
                inflated.seek(0)
                ds = _read(inflated, tags)
        else:
            with path.open("rb") as fh:
                _check_structure(fh, syntax, limits, path.name)
            ds = _read(path, tags)
    except InvalidInstance:
        raise
    except RecursionError:
        raise InvalidInstance(path.name, "sequences nested too deep to read") from None
    except OSError as exc:
        if exc.errno is not None:  # our disk, not the file: the caller's to handle
            raise
        raise InvalidInstance(path.name, f"not readable as DICOM: {_short(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a parser fed anything raises anything
        raise InvalidInstance(path.name, f"not readable as DICOM: {_short(exc)}") from None
    depth = sequence_depth(ds)
    if depth > limits.max_sequence_depth:
        raise InvalidInstance(
            path.name,
            f"sequences nested {depth} deep, over limits.max_sequence_depth "
            f"({limits.max_sequence_depth})",
        )
    return ds


def _check_structure(fh: IO[bytes], syntax: str | None, limits: Limits, where: str) -> None:
    """Refuse a file whose encoded data set is damaged (:func:`structure_damage`), read
    through a memory map: a file of any size costs no memory here."""
    fh.seek(0)
    if fh.read(1) == b"":
        raise InvalidInstance(where, "an empty file")
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            marker = mapped.find(b"DICM", 128, 132 + 4)
            start = _meta_end(mapped, marker + 4) if marker >= 0 else 0
            damage = structure_damage(view[marker + 4 : start]) if marker >= 0 else None
            damage = damage or structure_damage(
                view[start:],
                implicit_vr=syntax == ImplicitVRLittleEndian,
                big_endian=syntax == ExplicitVRBigEndian,
                max_depth=limits.max_sequence_depth,
            )
        finally:
            view.release()
    if damage is None:
        return
    if "nested deeper" in damage:
        damage = (
            f"sequences nested deeper than limits.max_sequence_depth ({limits.max_sequence_depth})"
        )
    raise InvalidInstance(where, f"damaged data set: {damage}")


def _read(source: Path | IO[bytes], tags: list[str] | None) -> Dataset:
    """The data set; with ``tags`` only those, large values of others skipped unread.
    pydicom's warnings about the values (logged by pydicom) never stop the reading, however
    the process filters warnings: what is done with a value is decided where it is used."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if tags:
            return dcmread(source, specific_tags=tags, defer_size=_MiB)
        return dcmread(source)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


#: JPEG start-of-frame markers (SOF0-3, 5-7, 9-11, 13-15) and JPEG-LS's SOF55.
_FRAME_HEADERS = {
    *range(0xC0, 0xC4),
    *range(0xC5, 0xC8),
    *range(0xC9, 0xCC),
    0xCD,
    0xCE,
    0xCF,
    0xF7,
}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG or JPEG-LS frame header (SOFn, SOF55)."""
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        (length,) = struct.unpack_from(">H", data, position + 2)
        if marker in _FRAME_HEADERS:
            rows, columns = struct.unpack_from(">HH", data, position + 5)
            return rows, columns
        position += 2 + length
    return None


def _j2k_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG 2000 codestream (SIZ) or JP2 file (ihdr)."""
    if data[:4] == b"\xff\x4f\xff\x51":
        xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", data, 8)
        return ysiz - yosiz, xsiz - xosiz
    box = data.find(b"ihdr")
    if box >= 4:
        height, width = struct.unpack_from(">II", data, box + 4)
        return height, width
    return None


def codestream_size(ds: Dataset) -> tuple[int, int] | None:
    """(rows, columns) the first frame's own compressed header claims; ``None`` for native
    pixel data or a codestream whose header says nothing."""
    if not _compressed(ds):
        return None
    fragment = _first_fragment(ds)
    head = bytes(fragment[:4096])
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head)
    return _j2k_size(head)


def _compressed(ds: Dataset) -> bool:
    """Whether the pixel data is encapsulated (a compressed transfer syntax)."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return (
        syntax is not None and syntax.is_compressed and not syntax.is_deflated and "PixelData" in ds
    )


def _first_fragment(ds: Dataset) -> bytes:
    """The first fragment of the first frame (the item after the Basic Offset Table)."""
    try:
        items = generate_fragments(ds.PixelData)
        next(items)  # the Basic Offset Table, empty or not
        return bytes(next(items))
    except (StopIteration, ValueError, struct.error):
        raise InvalidInstance(
            ds.get("SOPInstanceUID", "instance"), "compressed pixel data has no fragment"
        ) from None


def j2k_damage(codestream: bytes) -> str | None:
    """What is wrong with the structure of a JPEG 2000 codestream, or ``None``: the main
    header's marker segments must lead to a tile-part (SOT), each tile-part's length
    (Psot) to the next tile-part or to the end-of-codestream marker (EOC). Damage inside
    the entropy-coded data itself cannot be seen: JPEG 2000 carries no checksum."""
    data = codestream.rstrip(b"\0")
    if data[:4] != b"\xff\x4f\xff\x51":
        return "no SOC and SIZ markers at the start"
    position = 2
    while True:  # the main header, up to the first SOT
        if position + 4 > len(data) or data[position] != 0xFF:
            return f"the main header breaks off at byte {position}"
        if data[position + 1] == 0x90:
            break
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2:
            return f"a marker segment of length {length} at byte {position}"
        position += 2 + length
    while data[position : position + 2] == b"\xff\x90":  # the tile-parts
        if position + 12 > len(data):
            return "a tile-part header breaks off"
        (psot,) = struct.unpack_from(">I", data, position + 6)
        if psot == 0:  # the last tile-part runs to the EOC
            return None if data[-2:] == b"\xff\xd9" else "no end-of-codestream marker"
        if psot < 14 or position + psot > len(data):
            return f"a tile-part claims {psot} bytes at byte {position} of {len(data)}"
        position += psot
    if data[position : position + 2] != b"\xff\xd9" or position + 2 != len(data):
        return f"no tile-part or end-of-codestream marker at byte {position} of {len(data)}"
    return None


def _single_fragment(ds: Dataset) -> bool:
    """Whether the pixel data is one frame in one fragment (a codestream split over
    fragments is checked whole by the decoder instead)."""
    try:
        items = list(generate_fragments(ds.PixelData))
    except (ValueError, struct.error):
        return False
    return len(items) == 2


def check_pixels(ds: Dataset, limits: Limits, where: object) -> None:
    """Refuse pixel data that would decode past ``limits.max_decoded_bytes``, or whose
    codestream claims another size than Rows and Columns (checked before decoding).

    Raises
    ------
    InvalidInstance
        The reason names the limit or the disagreement.
    """
    if "PixelData" not in ds:
        return
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInstance(where, f"the image pixel module is unusable: {_short(exc)}") from None
    if min(rows, columns, frames, samples, bits) <= 0:
        raise InvalidInstance(where, f"empty image ({rows} × {columns}, {bits} bits)")
    claimed = codestream_size(ds)
    if claimed is not None and claimed != (rows, columns):
        raise InvalidInstance(
            where,
            f"the compressed frame says {claimed[0]} × {claimed[1]}, the header {rows} × {columns}",
        )
    decoded = rows * columns * frames * samples * max(bits, 8) // 8
    if decoded > limits.max_decoded_bytes:
        raise InvalidInstance(
            where,
            f"pixel data would decode to {decoded // _MiB} MB, over limits.max_decoded_mb "
            f"({limits.max_decoded_bytes // _MiB})",
        )
    if _compressed(ds) and _single_fragment(ds):
        fragment = _first_fragment(ds)
        damage = j2k_damage(fragment) if fragment[:2] == b"\xff\x4f" else None
        if damage is not None:
            raise InvalidInstance(where, f"the JPEG 2000 codestream is damaged: {damage}")
