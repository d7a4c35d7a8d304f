"""Choose ``hashgrid_small``: train compact hash-grid candidates and compare surface F1 and bytes.

Each candidate is trained with the default training block (``models.hashgrid.training`` in
``config.yaml``) on already-sampled objects (``results/samples/{obj}.h5``, made by the
pipeline), then scored on the test sets twice: with its float32 table and with the table rounded
to float16 (what ``encoding.storage: float16`` writes to disk). Prints one row per candidate and
object, then per-candidate means, with the float16/float32 F1 difference side by side.

Usage::

    python bench/small_hashgrid.py           # 3 candidates x 2 objects, ~6 min (idle machine)
    python bench/small_hashgrid.py --objects torus sphere capsule
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from neusdf.config import workflow_config
from neusdf.evaluation.scores import sign_scores
from neusdf.mesh.samples import read_samples
from neusdf.nn.models import count_parameters, load_checkpoint, predict_sdf
from neusdf.pipeline.compute import Compute
from neusdf.pipeline.train import train_object
from neusdf.threads import set_threads

# (n_levels, log2_hashmap_size, finest_resolution, storage)
CANDIDATES = [
    (8, 14, 512, "float32"),
    (16, 13, 2048, "float32"),
    (16, 14, 2048, "float16"),
]
OUT = Path("bench/out/small_hashgrid")


def candidate_config(base: dict, levels: int, log2_size: int, finest: int, storage: str) -> dict:
    config = copy.deepcopy(base)
    # Trained and saved in float32; the float16 score rounds the loaded table (same as storage).
    config["encoding"].update(
        n_levels=levels, log2_hashmap_size=log2_size, finest_resolution=finest
    )
    return config


def surface_f1(checkpoint: Path, samples: Path, half: bool) -> float:
    model, _ = load_checkpoint(checkpoint, backend="fast")
    if half:
        with torch.no_grad():
            model.encoding.params.copy_(model.encoding.params.half().float())
    test = read_samples(samples, "test/surface")
    return float(sign_scores(predict_sdf(model, test.points), test.sdf)["f1"])


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", nargs="+", default=["holed_box", "thin_plate"])
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    set_threads(2)
    base = workflow_config(yaml.safe_load(Path("config.yaml").read_text()))["models"]["hashgrid"]
    rows = []
    for levels, log2_size, finest, storage in CANDIDATES:
        config = candidate_config(base, levels, log2_size, finest, storage)
        name = f"L{levels}_T{log2_size}_{storage}"
        for obj in args.objects:
            samples = Path(f"results/samples/{obj}.h5")
            checkpoint = OUT / name / f"{obj}.pt"
            start = time.perf_counter()
            train_object(
                str(samples), f"results/normalized/{obj}.json", str(checkpoint),
                str(checkpoint.with_suffix(".csv")), name, config, Compute("fast", "cpu", 2),
                seed=0, progress=False,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            model, _ = load_checkpoint(checkpoint, backend="fast")
            f1_32 = surface_f1(checkpoint, samples, half=False)
            f1_16 = surface_f1(checkpoint, samples, half=True)
            rows.append(
                {
                    "candidate": name,
                    "object": obj,
                    "parameters": count_parameters(model),
                    "storage": storage,
                    "bytes_fp32": checkpoint.stat().st_size,
                    "bytes_fp16": checkpoint.stat().st_size - 2 * model.n_table_parameters(),
                    "train_s": round(seconds, 1),
                    "surface_f1_fp32": f1_32,
                    "surface_f1_fp16": f1_16,
                    "fp16_minus_fp32": f1_16 - f1_32,
                }
            )
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    print(frame.to_markdown(index=False, floatfmt=".4f"))
    means = frame.groupby("candidate", sort=False).mean(numeric_only=True).reset_index()
    print(means.to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
