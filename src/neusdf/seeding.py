"""One config seed fixes every random choice; each use gets its own independent stream."""

from __future__ import annotations

import hashlib


def derive_seed(base_seed: int, *labels: str | int) -> int:
    """A 63-bit seed derived from ``base_seed`` and labels such as ("sample", "test", "volume").

    Different labels give statistically independent streams; the same labels always give the
    same seed, whatever order objects are processed in.
    """
    text = "/".join([str(int(base_seed)), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
