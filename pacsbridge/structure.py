"""The structure of an encoded data set, checked byte by byte before any parser reads it.

pydicom reads what it can: a file cut in its header, an element claiming 4 GB, an item
longer than its sequence, an unknown VR are read as far as they go, without a word — and
another reader (the PACS, a viewer) may see something else in the same bytes. For data
nobody vouches for that is not good enough: :func:`structure_damage` walks the encoded
elements (PS3.5 7.1, 7.5; explicit or implicit VR, little or big endian) without
recursion, and says what is wrong: an element, item or fragment that runs past its
container or the end of the file, an unknown VR, an item outside a sequence, a
delimiter with nothing to close, a sequence or item never closed, sequences nested
deeper than allowed, or more elements than any real instance has.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR

__all__ = ["structure_damage"]

#: VRs with a 4-byte length in explicit VR encoding (PS3.5 Table 7.1-1).
_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_SHORT = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
}  # fmt: skip
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
#: No real instance has more elements than this (a flood of tiny ones is an attack).
MAX_ELEMENTS = 500_000


@dataclass(slots=True)
class _Open:
    """A container being walked: a sequence, an item, or encapsulated pixel data."""

    kind: str  # "sequence", "item" or "fragments"
    end: int | None  # None: undefined length, closed by a delimiter
    implicit: bool  # how the elements inside are encoded


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Walker:
    def __init__(self, data: bytes | memoryview, implicit: bool, big_endian: bool) -> None:
        self.data = data
        self.top_implicit = implicit
        self.order = ">" if big_endian else "<"
        self.stack: list[_Open] = []
        self.position = 0

    @property
    def implicit(self) -> bool:
        return self.stack[-1].implicit if self.stack else self.top_implicit

    def limit(self) -> int:
        """Where the innermost container with a length ends (the file's end at most)."""
        ends = [o.end for o in self.stack if o.end is not None]
        return min([len(self.data), *ends])

    def header(self) -> tuple[int, bytes, int, int]:
        """The element at :attr:`position`: tag, VR (``b""`` when implicit or a delimiter),
        value length, header length."""
        data, at, order = self.data, self.position, self.order
        if at + 8 > len(data):
            raise _Damage(f"an element header cut off at byte {at} of {len(data)}")
        group, element = struct.unpack_from(f"{order}HH", data, at)
        tag = group << 16 | element
        if group == 0xFFFE:  # items and delimiters: always implicit, little endian or not
            (length,) = struct.unpack_from(f"{order}I", data, at + 4)
            return tag, b"", length, 8
        if self.implicit:
            (length,) = struct.unpack_from(f"{order}I", data, at + 4)
            return tag, b"", length, 8
        vr = bytes(data[at + 4 : at + 6])
        if vr in _LONG:
            if at + 12 > len(data):
                raise _Damage(f"the header of {_tag_text(tag)} is cut off")
            (length,) = struct.unpack_from(f"{order}I", data, at + 8)
            return tag, vr, length, 12
        if vr in _SHORT:
            (length,) = struct.unpack_from(f"{order}H", data, at + 6)
            return tag, vr, length, 8
        shown = vr.decode("latin-1").encode("unicode_escape").decode()
        raise _Damage(f"{_tag_text(tag)} has the unknown VR {shown!r}")

    def is_sequence(self, tag: int, vr: bytes, length: int) -> bool:
        if vr:
            return vr == b"SQ" or (vr == b"UN" and length == _UNDEFINED)
        try:
            return dictionary_VR(tag) == "SQ" or length == _UNDEFINED
        except KeyError:
            return length == _UNDEFINED  # an unknown (private) tag: undefined means SQ

    def check_fits(self, what: str, length: int, header: int) -> int:
        """Where a value of ``length`` after ``header`` bytes ends; it must fit."""
        end = self.position + header + length
        if end > self.limit():
            room = self.limit() - self.position - header
            raise _Damage(f"{what} claims {length} bytes where {max(room, 0)} remain")
        return end

    def close(self, tag: int) -> None:
        top = self.stack[-1] if self.stack else None
        wanted = {_ITEM_END: "item", _SEQUENCE_END: "sequence"}[tag]
        if top is None or top.end is not None or top.kind not in (wanted, "fragments"):
            raise _Damage(f"a {wanted} delimiter at byte {self.position} closes nothing")
        if wanted == "item" and top.kind == "fragments":
            raise _Damage(f"an item delimiter among pixel data fragments at {self.position}")
        self.stack.pop()
        self.position += 8

    def step(self, max_depth: int) -> None:
        """Walk one element, item or delimiter."""
        tag, vr, length, header = self.header()
        top = self.stack[-1] if self.stack else None
        if tag in (_ITEM_END, _SEQUENCE_END):
            self.close(tag)
            return
        if tag == _ITEM:
            if top is None or top.kind == "item":
                raise _Damage(f"an item outside any sequence at byte {self.position}")
            if top.kind == "fragments":
                if length == _UNDEFINED:
                    raise _Damage("a pixel data fragment of undefined length")
                self.position = self.check_fits("a pixel data fragment", length, header)
                return
            end = None if length == _UNDEFINED else self.check_fits("an item", length, header)
            self.stack.append(_Open("item", end, top.implicit))
            self.position += header
            return
        if top is not None and top.kind in ("sequence", "fragments"):
            raise _Damage(f"{_tag_text(tag)} where only items may be, at byte {self.position}")
        if self.is_sequence(tag, vr, length):
            end = None if length == _UNDEFINED else self.check_fits(_tag_text(tag), length, header)
            # a UN sequence of undefined length is encoded implicit VR inside (PS3.5 6.2.2)
            self.stack.append(_Open("sequence", end, self.implicit or vr == b"UN"))
            if sum(o.kind == "sequence" for o in self.stack) > max_depth:
                raise _Damage(f"sequences nested deeper than {max_depth}")
            self.position += header
            return
        if length == _UNDEFINED:
            if tag != _PIXEL_DATA:
                raise _Damage(f"{_tag_text(tag)} has an undefined length")
            self.stack.append(_Open("fragments", None, self.implicit))
            self.position += header
            return
        self.position = self.check_fits(_tag_text(tag), length, header)

    def walk(self, max_depth: int) -> None:
        elements = 0
        while True:
            while self.stack and self.stack[-1].end == self.position:
                self.stack.pop()  # a container with a length ends here
            if self.position >= len(self.data):
                break
            if not self.stack and not any(self.data[self.position :]):
                break  # zeros after the last element: padding some writers leave
            elements += 1
            if elements > MAX_ELEMENTS:
                raise _Damage(f"more than {MAX_ELEMENTS} elements")
            self.step(max_depth)
        if self.stack:
            raise _Damage(f"a {self.stack[-1].kind} is never closed (the file ends first)")


class _Damage(Exception):
    """What is wrong, in words."""


def structure_damage(
    data: bytes | memoryview,
    *,
    implicit_vr: bool = False,
    big_endian: bool = False,
    max_depth: int = 12,
) -> str | None:
    """What is wrong with the structure of an encoded data set (without its file meta
    information), or ``None`` when every element, item and fragment fits where it is."""
    walker = _Walker(data, implicit_vr, big_endian)
    try:
        walker.walk(max_depth)
    except _Damage as damage:
        return str(damage)
    return None
