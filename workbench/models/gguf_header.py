"""A GGUF file's header read without llama.cpp or gguf-py: its key/value metadata and, on request, the number of
weights in its tensor index.

gguf.GGUFReader parses the whole file (seconds for a small model's vocabulary) and llama_cpp loads a native
library; the memory guard and the llama.cpp backend's architecture check need only a few keys. Every length and
count is checked against the bytes left in the file before it is used, so a truncated or garbled header ends the
read with a GgufHeaderError instead of allocating, overflowing or looping on a number it never held.

Layout (little-endian): magic "GGUF", uint32 version, uint64 tensor count, uint64 key/value count; each key/value
is a string key, a uint32 value type and the value; each tensor is a string name, a uint32 dimension count, that
many uint64 dimensions, a uint32 type and a uint64 offset. A string is a uint64 length and that many bytes.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"
STRING, ARRAY = 8, 9
# Fixed-size value types: uint8, int8, uint16, int16, uint32, int32, float32, bool, uint64, int64, float64.
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
MAX_DIMS = 8  # GGUF tensors have at most 4; more is a garbled count


class GgufHeaderError(ValueError):
    """The header is not a GGUF header, or ends early, or holds a length or count the file cannot hold."""


@dataclass(frozen=True)
class GgufHeader:
    version: int
    n_tensors: int
    metadata: dict[str, Any]  # scalars and strings as read; an array as its length (the vocabulary's size)
    parameters: int | None  # the weights in all tensors (None: the tensor index was not read)


def read_gguf_header(path: Path, keys: Collection[str] | None = None, tensors: bool = False) -> GgufHeader:
    """The metadata of the GGUF at `path` (only until every one of `keys` is found, when given) and, with
    `tensors`, the number of weights in its tensor index. Raises GgufHeaderError or OSError."""
    if tensors and keys is not None:
        raise ValueError("the tensor index follows the whole metadata: read it without `keys`")
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size < len(MAGIC):
            raise GgufHeaderError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)")
        # Mapped, not read: a vocabulary is ~100k strings, and one file read per length and string cost ~0.3 s
        # on the path to "ready"; offsets into the mapping cost a tenth of that.
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            reader = _Reader(data)
            if reader.take(4) != MAGIC:
                raise GgufHeaderError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)")
            version, n_tensors, n_kv = reader.unpack("<IQQ")
            reader.check_count(n_kv, 12, "key/value")  # a key's length and a value's type at least
            metadata: dict[str, Any] = {}
            wanted = set(keys) if keys is not None else None
            for _ in range(n_kv):
                if wanted is not None and wanted <= metadata.keys():
                    break
                key = reader.string()
                metadata[key] = reader.value(reader.unpack("<I")[0])
            parameters = reader.parameters(n_tensors) if tensors else None
    return GgufHeader(version, n_tensors, metadata, parameters)


class _Reader:
    """Reads `data` from an offset that only moves forward, refusing any length that runs past its end."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.size, self.at = data, len(data), 0

    def left(self) -> int:
        return self.size - self.at

    def skip(self, n: int) -> None:
        if n > self.size - self.at:
            raise GgufHeaderError("the GGUF header runs past the end of the file (truncated or garbled)")
        self.at += n

    def take(self, n: int) -> bytes:
        start = self.at
        self.skip(n)
        return self.data[start : self.at]

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        start = self.at
        self.skip(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.data, start)

    def check_count(self, count: int, least: int, what: str) -> None:
        """`count` items of at least `least` bytes each must fit in what is left."""
        if count > self.left() // least:
            raise GgufHeaderError(f"the GGUF header's {what} count ({count}) is more than the file can hold")

    def string(self) -> str:
        (n,) = self.unpack("<Q")
        return self.take(n).decode("utf-8", "replace")

    def skip_strings(self, count: int) -> None:
        """Step over `count` strings without decoding them (a vocabulary: only its length is kept)."""
        for _ in range(count):
            (n,) = self.unpack("<Q")
            self.skip(n)

    def value(self, kind: int) -> Any:
        if kind == STRING:
            return self.string()
        if kind == ARRAY:
            item, count = self.unpack("<IQ")
            if item in SCALARS:
                self.skip(struct.calcsize(SCALARS[item]) * count)
            else:
                self.check_count(count, 8, "array")  # each element needs at least an 8-byte length
                if item == STRING:
                    self.skip_strings(count)
                else:
                    for _ in range(count):
                        self.value(item)
            return count
        fmt = SCALARS.get(kind)
        if fmt is None:
            raise GgufHeaderError(f"unknown GGUF value type {kind}")
        return self.unpack(fmt)[0]

    def parameters(self, n_tensors: int) -> int:
        self.check_count(n_tensors, 8 + 4 + 8 + 4 + 8, "tensor")  # name, dims, one dimension, type, offset
        total = 0
        for _ in range(n_tensors):
            self.string()
            (n_dims,) = self.unpack("<I")
            if n_dims > MAX_DIMS:
                raise GgufHeaderError(f"a GGUF tensor with {n_dims} dimensions (garbled)")
            n = 1
            for d in self.unpack(f"<{n_dims}Q"):
                n *= int(d)
            total += n
            self.skip(12)  # the tensor's type and offset
        return total
