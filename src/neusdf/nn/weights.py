"""Checkpoints as plain data: the format checks every reader applies, and a reader that needs no
torch (numpy arrays instead of tensors) for jobs that only evaluate a trained field.

A checkpoint is what ``torch.save`` writes (:func:`neusdf.nn.models.save_checkpoint`): a zip
archive holding ``data.pkl`` (pickle protocol 2) and one raw little-endian file per tensor
storage under ``data/``. :func:`read_checkpoint_arrays` unpickles ``data.pkl`` with an
allow-list as strict as ``torch.load(weights_only=True)``: plain containers and numbers,
tensors rebuilt from their storages, and nothing else; any other global is refused, never
imported or run. It is tested to give the same payload as ``torch.load``.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from pathlib import Path

import numpy as np

from neusdf.encoding.memory import large_zeros_array
from neusdf.errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "check_checkpoint_payload",
    "read_checkpoint_arrays",
]

CHECKPOINT_FORMAT = "neusdf-checkpoint"
CHECKPOINT_VERSION = 1

# torch storage classes (as pickled by torch.save) -> numpy dtypes
# Storages from this size on are read into huge pages (one 2 MiB page).
_LARGE_STORAGE_BYTES = 2**21

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


def check_checkpoint_payload(path: str | Path, payload: object) -> dict:
    """``payload`` if it is a neusdf checkpoint of a format this version reads.

    Raises
    ------
    CheckpointError
        Not a neusdf checkpoint, written by a newer neusdf, or an unknown format version.
    """
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, "not a neusdf checkpoint")
    version = payload.get("format_version")
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise CheckpointError(
            path,
            f"written by a newer neusdf (format {version} > {CHECKPOINT_VERSION}); upgrade neusdf",
        )
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"unsupported format_version {version!r}")
    return payload


def _rebuild_tensor(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    """numpy counterpart of ``torch._utils._rebuild_tensor_v2``: a view of the storage (copied
    only when not C-contiguous)."""
    size, stride = tuple(size), tuple(stride)
    if math.prod(size) == 0:
        return np.zeros(size, dtype=storage.dtype)
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * storage.itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of a torch zip checkpoint into dicts, lists and numpy arrays."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(file)
        self.archive, self.prefix, self.path = archive, prefix, path

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise CheckpointError(
            self.path, f"refused: holds a pickled {module}.{name}, which is not plain data"
        )

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != "storage":
            raise CheckpointError(self.path, f"refused: unknown persistent object {kind!r}")
        # Read straight into a writable array (numba compiles read-only arrays separately); a
        # feature table lands in huge pages, where the fast kernels read it without a copy.
        numel = int(numel)
        if numel * np.dtype(dtype).itemsize >= _LARGE_STORAGE_BYTES:
            array = large_zeros_array(numel, dtype)
        else:
            array = np.empty(numel, dtype=dtype)
        # In 1 MiB reads: one big read would first build a bytes copy of the whole storage.
        view, filled = memoryview(array).cast("B"), 0
        with self.archive.open(f"{self.prefix}data/{key}") as handle:
            while filled < len(view):
                n_read = handle.readinto(view[filled : filled + 2**20])
                if not n_read:
                    raise CheckpointError(self.path, f"storage {key} is truncated")
                filled += n_read
        return array


def read_checkpoint_arrays(path: str | Path) -> dict:
    """A checkpoint's payload with numpy arrays in place of tensors, without importing torch.

    Returns
    -------
    dict
        As :func:`neusdf.nn.models.read_checkpoint` returns it, with every tensor of
        ``payload["state_dict"]`` a C-contiguous numpy array of the stored dtype.

    Raises
    ------
    CheckpointError
        Not a zip checkpoint, a pickled object other than plain data, big-endian storages, or
        the format checks of :func:`check_checkpoint_payload`.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [name for name in names if name.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(path, "not a neusdf checkpoint (no data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder") != b"little":
                raise CheckpointError(path, "stores big-endian tensors; load it with torch")
            with archive.open(pickles[0]) as handle:
                payload = _ArrayUnpickler(handle, archive, prefix, path).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, KeyError) as exc:
        raise CheckpointError(path, f"not a readable checkpoint ({exc})") from None
    return check_checkpoint_payload(path, payload)
