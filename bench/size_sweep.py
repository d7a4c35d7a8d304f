"""Accuracy against bytes: hash-grid configurations from ~10 KB to ~50 MB and exact lattices of
the same bytes, through the pipeline's own stages.

1. Samples every mesh of each ``--meshes`` folder once with the package's stages
   (``normalize_object`` + ``sample_object``, the default configuration and seed) into a cache.
2. For each named configuration (``--list``; any model of ``config.yaml`` by its name too) and
   mesh: the ``train``, ``extract`` and ``evaluate`` stages exactly as the workflow runs them
   (fast CPU backend, the workflow's seeds), so every number is a metrics record of the pipeline:
   sign F1, Chamfer, distance error by band of the true distance, normal angle, checkpoint
   bytes, training seconds.
3. Prints per configuration the mean over meshes (worst mesh in brackets), writes
   ``sweep.csv`` (one row per configuration and mesh) and, with ``--plot``, a figure of the
   scores against checkpoint bytes.

Results are cached per (configuration, mesh), so adding a configuration only runs that one;
``--fresh`` reruns everything. Times are comparable only within one run on an otherwise idle
machine.

Usage::

    python bench/size_sweep.py                                  # default sweep on data/raw
    python bench/size_sweep.py --meshes data/raw ../shared/meshes --plot docs/size_sweep.png
    python bench/size_sweep.py --configs hashgrid exact_77_float16 --meshes data/raw
    python bench/size_sweep.py --list
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

# isort: off
from neusdf.threads import sleeping_idle_threads

sleeping_idle_threads()  # before torch loads OpenMP

# isort: on
import numpy as np
import yaml

from neusdf.config import model_config, workflow_config
from neusdf.errors import NeusdfError
from neusdf.pipeline.compute import Compute
from neusdf.pipeline.discovery import discover_objects
from neusdf.pipeline.evaluate import evaluate_object
from neusdf.pipeline.extract import extract_object
from neusdf.pipeline.normalize import normalize_object
from neusdf.pipeline.sample import sample_object
from neusdf.pipeline.train import train_object
from neusdf.threads import set_threads

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "size_sweep"
# Columns of the printed table: (metrics key, header, format).
COLUMNS = (
    ("surface_f1", "surface F1", ".4f"),
    ("volume_f1", "volume F1", ".4f"),
    ("chamfer_l1", "Chamfer L1", ".2e"),
    ("sdf_error_p99_near", "p99 near", ".1e"),
    ("sdf_error_p99_shell", "p99 shell", ".1e"),
    ("sdf_error_p99_mid", "p99 mid", ".1e"),
    ("sdf_error_p99_far", "p99 far", ".1e"),
    ("normal_angle_mean", "normal °", ".2f"),
    ("train_seconds", "train s", ".1f"),
)


def hash_grid(levels, log2_size, width, prior=None, features=2, storage="float16", base=16,
              finest=2048) -> dict:  # fmt: skip
    """A hash-grid configuration, on a float16 prior lattice of ``prior``^3 nodes if given, with
    the default model's training recipe."""
    config = {
        "encoding": {
            "n_levels": levels, "n_features_per_level": features, "log2_hashmap_size": log2_size,
            "base_resolution": base, "finest_resolution": finest, "storage": storage,
        },
        "network": {"n_neurons": width, "n_hidden_layers": 2},
        "training": copy.deepcopy(default_model()["training"]),
    }  # fmt: skip
    if prior:
        config["prior"] = {"resolution": prior, "storage": "float16"}
    return config


def exact_lattice(resolution: int, storage: str) -> dict:
    return {"kind": "exact_grid", "grid": {"resolution": resolution, "storage": storage}}


def default_model() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())["models"]["hashgrid"]


def sweep() -> dict[str, dict]:
    """The sweep: hash grids on a prior lattice (the default's design, 14 kB to 4 MB) and
    without one (the tiny-cuda-nn design, 36 kB to 49 MB with ``hashgrid_tcnn``), varying table
    size, levels, features per level, MLP width and storage; exact lattices of the same bytes in
    float16 and float32. Names of config.yaml's models (``hashgrid``, ``hashgrid_tiny``,
    ``hashgrid_tcnn``) join them."""
    configs = {
        "prior_14k": hash_grid(6, 8, 16, prior=13, base=8, finest=256),
        "prior_30k": hash_grid(8, 9, 16, prior=17, base=8, finest=512),
        "prior_244k": hash_grid(10, 12, 32, prior=33),
        "prior_1m_w64": hash_grid(13, 14, 64, prior=41),
        "prior_1m_f4": hash_grid(7, 14, 32, prior=41, features=4),
        "prior_2m_float32": hash_grid(13, 14, 32, prior=41, storage="float32"),
        "prior_4m": hash_grid(16, 16, 64, prior=65),
        "tcnn_36k": hash_grid(8, 10, 16),
        "tcnn_943k": hash_grid(15, 14, 64),
    }
    # Exact lattices: float16 nodes at about 14 kB, 87 kB, 244 kB, 0.94 MB, 4.2 MB and 14.7 MB;
    # float32 nodes at about 14 kB, 0.94 MB and 49 MB (the same bytes buy 1.26x the resolution
    # per axis in float16).
    for resolution in (19, 35, 49, 77, 127, 194):
        configs[f"exact_{resolution}_float16"] = exact_lattice(resolution, "float16")
    for resolution in (15, 61, 230):
        configs[f"exact_{resolution}_float32"] = exact_lattice(resolution, "float32")
    return configs


DEFAULT_SWEEP = ("hashgrid", "hashgrid_tiny", "hashgrid_tcnn")


def recipes() -> dict[str, dict]:
    """The default model with other training recipes and prior lattices (named by what
    changes), for ``--configs``: how its recipe was chosen."""
    variants = {
        "recipe_e6_s90": {"epochs": 6, "surface_fraction": 0.9},
        "recipe_e10_s75": {"epochs": 10, "surface_fraction": 0.75},
        "recipe_e10_s90": {"epochs": 10, "surface_fraction": 0.9},
        "recipe_e12_s60": {"epochs": 12, "surface_fraction": 0.6},
    }
    configs = {}
    for name, training in variants.items():
        config = copy.deepcopy(default_model())
        config["training"].update(training)
        configs[name] = config
    for resolution, levels in ((33, 14), (49, 12)):
        config = copy.deepcopy(default_model())
        config["prior"]["resolution"], config["encoding"]["n_levels"] = resolution, levels
        configs[f"recipe_prior{resolution}_L{levels}"] = config
    return configs


def named_configs() -> dict[str, dict]:
    """The sweep's configurations and every model of config.yaml, by name."""
    config = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    extra = {**sweep(), **recipes()}
    return {**config["models"], **{k: model_config(v) for k, v in extra.items()}}


def sample_meshes(folder: Path, cache: Path, seed: int) -> dict[str, Path]:
    """Normalize and sample every mesh of ``folder`` once (the pipeline's stages and defaults);
    returns {object: cache folder} for the meshes the pipeline accepts."""
    config = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    objects = {}
    for name, path in discover_objects(folder).items():
        where = cache / name
        samples = where / "samples.h5"
        if not samples.is_file() and not (where / "rejected.txt").is_file():
            where.mkdir(parents=True, exist_ok=True)
            try:
                normalize_object(path, str(where / "n.ply"), str(where / "n.json"),
                                 config["normalize"]["half_extent"])  # fmt: skip
                sample_object(str(where / "n.ply"), str(where / "n.json"), str(samples),
                              config["sample"], seed, 2)  # fmt: skip
            except NeusdfError as exc:  # the pipeline lists these as failed objects: skip
                (where / "rejected.txt").write_text(f"{exc}\n")
        if samples.is_file():
            objects[name] = where
    return objects


def run_one(name: str, model: dict, where: Path, out: Path, seed: int, resolution: int) -> dict:
    """train -> extract -> evaluate of one configuration on one sampled mesh: the metrics."""
    config = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    cpu = Compute("fast", "cpu", 2)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint, mesh = out / "model.safetensors", out / "mesh.ply"
    train_object(
        str(where / "samples.h5"), str(where / "n.json"), str(checkpoint), str(out / "h.csv"),
        name, model, cpu, seed, progress=False, mesh_path=str(where / "n.ply"),
        sample_cfg=config["sample"],
    )  # fmt: skip
    extract_object(str(checkpoint), str(mesh), {**config["extract"], "resolution": resolution},
                   cpu)  # fmt: skip
    return evaluate_object(
        str(checkpoint), str(where / "samples.h5"), str(mesh), str(mesh.with_suffix(".json")),
        str(where / "n.ply"), str(out / "metrics.json"), where.name, name, config["evaluate"],
        config["geometry"], cpu, seed,
    )  # fmt: skip


def summarize(rows: list[dict]) -> str:
    """Markdown table: per configuration, bytes and the mean (worst) of each column."""
    header = "| configuration | bytes | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    lines = [header, "|---|---:|" + "---:|" * len(COLUMNS)]
    names = list(dict.fromkeys(r["model"] for r in rows))
    for name in names:
        mine = [r for r in rows if r["model"] == name]
        cells = [name, f"{np.mean([r['checkpoint_bytes'] for r in mine]):,.0f}"]
        for key, _, fmt in COLUMNS:
            values = np.array([r[key] for r in mine], dtype=float)
            worse = np.nanmin if key.endswith("_f1") else np.nanmax
            cells.append(f"{np.nanmean(values):{fmt}} ({worse(values):{fmt}})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], configs: dict, path: Path) -> None:
    """Surface F1, volume F1, p99 far-field error and training seconds against bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("surface_f1", "surface F1"),
        ("volume_f1", "volume F1"),
        ("sdf_error_p99_far", "p99 |error|, |t| ≥ 0.3"),
        ("sdf_error_p99_near", "p99 |error|, |t| < 0.02"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 4), dpi=80)
    names = list(dict.fromkeys(r["model"] for r in rows))
    families = {
        "exact": ("s", "tab:orange"),
        "prior": ("o", "tab:blue"),
        "hashgrid": ("^", "tab:green"),
    }
    for ax, (key, label) in zip(axes, panels, strict=True):
        for name in names:
            mine = [r for r in rows if r["model"] == name]
            config = configs[name]
            family = (
                "exact"
                if mine[0]["kind"] == "exact_grid"
                else ("prior" if "prior" in config else "hashgrid")
            )
            marker, color = families[family]
            x = np.mean([r["checkpoint_bytes"] for r in mine])
            ax.plot(x, np.mean([r[key] for r in mine]), marker, color=color,
                    fillstyle="none" if "float16" in name else "full")  # fmt: skip
        ax.set_xscale("log")
        if not key.endswith("_f1"):
            ax.set_yscale("log")
        ax.set_xlabel("checkpoint bytes")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].plot([], [], "o", color="tab:blue", label="prior lattice + hash grid + MLP")
    axes[0].plot([], [], "^", color="tab:green", label="hash grid + MLP (no prior)")
    axes[0].plot([], [], "s", color="tab:orange", label="exact lattice (open: float16)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", nargs="+", type=Path, default=[REPO / "data" / "raw"])
    parser.add_argument("--configs", nargs="+", help="names (default: the whole sweep)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=YAML",
                        help="an extra configuration given inline (a model mapping)")  # fmt: skip
    parser.add_argument("--resolution", type=int, default=256, help="extraction grid (256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--plot", type=Path, help="write the figure here")
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument("--list", action="store_true", help="list the configurations")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configs = named_configs()
    for item in args.model:
        name, _, text = item.partition("=")
        configs[name] = model_config(yaml.safe_load(text))
    if args.list:
        for name, config in configs.items():
            print(name, json.dumps({k: v for k, v in config.items() if k != "training"}))
        return 0
    chosen = args.configs or [*DEFAULT_SWEEP, *sweep(), *(m.partition("=")[0] for m in args.model)]
    unknown = [name for name in chosen if name not in configs]
    if unknown:
        sys.exit(f"unknown configurations: {', '.join(unknown)} (see --list)")
    set_threads(2)
    rows = []
    missing = [folder for folder in args.meshes if not folder.is_dir()]
    for folder in missing:
        print(f"# {folder}: not found, skipped", file=sys.stderr)
    args.meshes = [folder for folder in args.meshes if folder.is_dir()]
    for folder in args.meshes:
        cache = args.out / "samples" / folder.resolve().name
        for obj, where in sample_meshes(folder, cache, args.seed).items():
            for name in chosen:
                run = args.out / "runs" / folder.resolve().name / name / obj
                done = run / "metrics.json"
                if args.fresh or not done.is_file():
                    start = time.perf_counter()
                    run_one(name, configs[name], where, run, args.seed, args.resolution)
                    print(f"# {name} / {obj}: {time.perf_counter() - start:.0f} s",
                          file=sys.stderr, flush=True)  # fmt: skip
                rows.append({**json.loads(done.read_text()), "mesh_set": folder.name})
    for folder in args.meshes:
        mine = [r for r in rows if r["mesh_set"] == folder.name]
        print(f"\n{folder} ({len({r['object'] for r in mine})} meshes): mean (worst)\n")
        print(summarize(mine))
    import pandas as pd

    pd.DataFrame(rows).to_csv(args.out / "sweep.csv", index=False)
    if args.plot:
        plot(rows, configs, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
