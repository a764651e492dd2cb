"""The key-value metadata of a GGUF file, read without its tensors.

gguf's own GGUFReader maps every element of every array field to a numpy view of its own: for
Gemma 3's 262,144-token vocabulary that is about 20 s a file on a 2-core CPU, paid by every GGUF
export of a Gemma base (the vocabulary is copied from the file the base came from). Only the
metadata is needed here, so it is read in one pass: a string array as a list of bytes, a number
array with numpy in one call; well under a second for the same file. Values come back in the form
gguf's GGUFWriter takes them (`add_key_value(name, value, vtype, sub_type=...)`).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFValueType

# GGUF's value types (gguf.GGUFValueType) and how each scalar is stored, little-endian (struct's
# codes, which numpy reads as the same types for an array of them)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


@dataclass(frozen=True)
class Field:
    """One metadata field: its type, the element type of an array, and its value (a string array's
    elements are bytes, as written; a scalar string is text)."""
    vtype: GGUFValueType
    sub_type: GGUFValueType | None
    value: object


class _Cursor:
    def __init__(self, buffer):
        self.buffer, self.at = buffer, 0

    def unpack(self, fmt: str):
        value = struct.unpack_from(fmt, self.buffer, self.at)[0]
        self.at += struct.calcsize(fmt)
        return value

    def raw_string(self) -> bytes:
        size = self.unpack("<Q")
        self.at += size
        return bytes(self.buffer[self.at - size:self.at])

    def value(self, vtype: int):
        if vtype == STRING:
            return self.raw_string().decode("utf-8")
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        raise ValueError(f"unknown GGUF value type {vtype}")

    def array(self) -> tuple[int, list]:
        sub_type, count = self.unpack("<I"), self.unpack("<Q")
        if sub_type == STRING:
            return sub_type, [self.raw_string() for _ in range(count)]
        if sub_type in _SCALARS:
            values = np.frombuffer(self.buffer, dtype=_SCALARS[sub_type], count=count, offset=self.at)
            self.at += values.nbytes
            return sub_type, values.tolist()
        return sub_type, [self.array()[1] if sub_type == ARRAY else self.value(sub_type) for _ in range(count)]


def read_metadata(path: str | Path) -> dict[str, Field]:
    """Every key-value field of the GGUF file at `path` (version 2 or 3, little-endian)."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        cursor = _Cursor(buffer)
        if bytes(buffer[:4]) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        cursor.at = 4
        version = cursor.unpack("<I")
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version} (little-endian 2 or 3 expected)")
        cursor.unpack("<Q")  # the tensor count: the tensors are not read
        fields = {}
        for _ in range(cursor.unpack("<Q")):
            name = cursor.raw_string().decode("utf-8")
            vtype = cursor.unpack("<I")
            if vtype == ARRAY:
                sub_type, value = cursor.array()
                fields[name] = Field(GGUFValueType(vtype), GGUFValueType(sub_type), value)
            else:
                fields[name] = Field(GGUFValueType(vtype), None, cursor.value(vtype))
        return fields
