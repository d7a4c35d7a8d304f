"""Where a job computes: backend, device and CPU threads, from ``config["compute"]`` with the
stage's own overrides (``config[stage]``)."""

from __future__ import annotations

from dataclasses import dataclass

COMPUTE_KEYS = ("backend", "device", "threads")


@dataclass(frozen=True)
class Compute:
    """Backend, device and threads of one job.

    Attributes
    ----------
    backend : {"auto", "fast", "reference", "tcnn"}
        Hash-grid backend (``auto``: tcnn on CUDA when installed, else fast).
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]``.
    threads : int
        CPU threads for torch, numba and pysdf.
    """

    backend: str
    device: str
    threads: int

    @classmethod
    def for_stage(cls, config: dict, stage: str) -> Compute:
        """``config["compute"]`` overridden by the keys of ``config[stage]`` that it sets."""
        merged = {**config["compute"]}
        merged.update({k: v for k, v in config.get(stage, {}).items() if k in COMPUTE_KEYS})
        return cls(str(merged["backend"]), str(merged["device"]), int(merged["threads"]))

    def resolved(self) -> Compute:
        """``auto`` backend and device replaced by what this machine offers (imports torch)."""
        from neusdf.encoding import resolve_backend
        from neusdf.nn.models import resolve_device

        device = resolve_device(self.device)
        return Compute(resolve_backend(self.backend, device), device, self.threads)
