"""The checkpoint file: the one place it is written, read and validated.

A checkpoint is a `safetensors <https://github.com/huggingface/safetensors>`_ file: an 8-byte
little-endian header length, a JSON header naming every array (dtype, shape, byte range), then the
raw little-endian array bytes. The header's ``__metadata__`` holds one string, ``neusdf``: the JSON
of everything that is not an array (format, version, model configuration, normalization, training
record). Nothing in it is code: reading never unpickles anything, so a checkpoint from anywhere is
as safe to open as an image. Any safetensors reader (Python, Rust, C++, JavaScript) opens it; this
module reads and writes it with numpy alone, so the jobs that only evaluate a field need neither
torch nor another library. docs/checkpoint.md describes the layout for other readers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neusdf.errors import CheckpointError
from neusdf.io import atomic_path
from neusdf.mesh.transform import Normalization

FORMAT = "neusdf-checkpoint"
VERSION = 2
# Keys every checkpoint's metadata holds (more may follow; readers ignore what they do not know).
REQUIRED_KEYS = ("format", "format_version", "neusdf_version", "model_name", "model_config",
                 "normalization", "training")  # fmt: skip
# safetensors dtype names <-> numpy (little-endian); only the ones neusdf writes are accepted.
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8")}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
# A header larger than this is not one neusdf wrote (it names a few dozen arrays).
_MAX_HEADER = 1 << 24


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's contents, validated.

    Attributes
    ----------
    path : Path
    meta : dict
        Plain JSON: ``format``, ``format_version``, ``neusdf_version``, ``model_name``,
        ``model_config`` (with ``kind``), ``backend`` (that trained it), ``normalization``
        (``center``, ``scale``), ``training`` (the training record).
    arrays : dict of str to numpy.ndarray
        The weights under the names of the torch model's ``state_dict``, in their stored dtype
        (float32, or float16 for a table stored in half precision), C-contiguous, read-only.
    """

    path: Path
    meta: dict
    arrays: dict

    @property
    def model_config(self) -> dict:
        return self.meta["model_config"]

    @property
    def kind(self) -> str:
        return self.meta["model_config"].get("kind", "hashgrid")

    @property
    def normalization(self) -> Normalization:
        return Normalization.from_record(self.meta["normalization"])

    @property
    def n_parameters(self) -> int:
        """Stored scalars, every array counted."""
        return int(sum(array.size for array in self.arrays.values()))


def write_checkpoint(path: str | Path, arrays: dict, meta: dict) -> int:
    """Write ``arrays`` (name -> numpy array of a dtype in F32/F16/F64) and ``meta`` (plain
    JSON; ``format`` and ``format_version`` are added) as a safetensors file, atomically.

    Returns
    -------
    int
        The file's size in bytes.
    """
    meta = {"format": FORMAT, "format_version": VERSION, **meta}
    header: dict = {"__metadata__": {"neusdf": json.dumps(meta, sort_keys=True)}}
    blobs, offset = [], 0
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        if array.dtype not in _NAMES:
            raise ValueError(f"checkpoint array {name!r}: dtype {array.dtype} is not stored")
        blob = array.tobytes()
        header[name] = {
            "dtype": _NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the array bytes start 8-byte aligned
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(len(text).to_bytes(8, "little"))
        handle.write(text)
        for blob in blobs:
            handle.write(blob)
    return os.path.getsize(path)


def _refuse(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(path, reason)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint.

    Raises
    ------
    CheckpointError
        One line naming the file: not found, not a safetensors file (a torch ``.pt`` included),
        a header or byte range that does not add up, not a neusdf checkpoint, a format written
        by a newer neusdf, missing metadata, non-finite weights or an unusable normalization.
    """
    path = Path(path)
    if not path.is_file():
        raise _refuse(path, "file not found")
    data = path.read_bytes()
    if len(data) < 8:
        raise _refuse(path, "not a neusdf checkpoint (too short for a safetensors file)")
    size = int.from_bytes(data[:8], "little")
    if size > _MAX_HEADER or 8 + size > len(data) or data[8:9] != b"{":
        raise _refuse(path, "not a neusdf checkpoint (not a safetensors file)")
    try:
        header = json.loads(data[8 : 8 + size])
        meta = json.loads(header.pop("__metadata__", {}).get("neusdf", "null"))
    except (ValueError, AttributeError, TypeError) as exc:
        raise _refuse(path, f"not a neusdf checkpoint (unreadable header: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _refuse(path, "not a neusdf checkpoint")
    version = meta.get("format_version")
    if isinstance(version, int) and version > VERSION:
        raise _refuse(
            path, f"written by a newer neusdf (format {version} > {VERSION}); upgrade neusdf"
        )
    if version != VERSION:
        raise _refuse(path, f"unsupported format_version {version!r}")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise _refuse(path, f"checkpoint metadata lacks {', '.join(missing)}")
    body = memoryview(data)[8 + size :]
    entries = []
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(n) for n in info["shape"])
            begin, stop = (int(n) for n in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise _refuse(path, f"array {name!r}: malformed header entry {info!r}") from None
        entries.append((begin, stop, name, dtype, shape))
    arrays, end = {}, 0
    for begin, stop, name, dtype, shape in sorted(entries, key=lambda entry: entry[:2]):
        size_ok = stop - begin == math.prod(shape) * dtype.itemsize
        if begin != end or not size_ok or stop > len(body):
            raise _refuse(
                path, f"array {name!r}: bytes {begin}..{stop} do not add up (truncated file?)"
            )
        array = np.frombuffer(body[begin:stop], dtype=dtype).reshape(shape)
        if not np.isfinite(array).all():
            raise _refuse(path, f"array {name!r} holds NaN or infinite values")
        arrays[name] = array
        end = stop
    if end != len(body):
        raise _refuse(path, f"{len(body) - end} bytes after the last array (truncated or padded)")
    try:
        Normalization.from_record(meta["normalization"])
    except (KeyError, TypeError, ValueError):
        raise _refuse(path, f"has no usable normalization: {meta['normalization']!r}") from None
    return Checkpoint(path=path, meta=meta, arrays=arrays)
