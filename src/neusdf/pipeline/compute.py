"""Where a job computes: backend, device and CPU threads, from ``config["compute"]`` with the
stage's own overrides (``config[stage]``).

Placement never changes a result's meaning, so the workflow keeps it out of every rule's
``params`` (which would rerun finished jobs when it changes): threads are the rule's ``threads:``,
the GPU a ``resources: gpu`` request made only where a job will use one, and backend and device
are read from the configuration when the job starts (:meth:`Compute.of_job`).
"""

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
        CPU threads for torch, numba and the ground truth.
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

    @classmethod
    def of_job(cls, config: dict, stage: str, threads: int) -> Compute:
        """The placement of a running job: backend and device of :meth:`for_stage`, and the
        ``threads`` Snakemake gave the job (``--set-threads`` may differ from the config)."""
        planned = cls.for_stage(config, stage)
        return cls(planned.backend, planned.device, int(threads))

    @property
    def gpus(self) -> int:
        """GPUs a job with this placement uses: 1 on ``cuda``, 0 on ``cpu``; ``auto`` counts
        one when this machine can have CUDA (an NVIDIA driver is present; torch is not
        imported to find out)."""
        from neusdf.nn.field import cuda_possible

        if self.device.startswith("cuda"):
            return 1
        return int(self.device == "auto" and cuda_possible())

    def resolved(self) -> Compute:
        """``auto`` backend and device replaced by what this machine offers."""
        from neusdf.nn.field import resolve_placement

        backend, device = resolve_placement(self.backend, self.device)
        return Compute(backend, device, self.threads)
