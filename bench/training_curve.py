"""Training recipe: mean sign F1 against training seconds on a folder of meshes.

1. Samples every mesh once per near-surface training count with the package's own stages
   (``normalize_object`` + ``sample_object``, the default config's other counts and seed) into
   a cache folder. The test sets do not depend on that count (their seeds are their own).
2. For each recipe (overrides of ``config.yaml``'s ``models.hashgrid_tcnn.training``, plus
   ``train_surface``: the sample file's near-surface training points, 250k unless given) trains
   one network per mesh with :func:`neusdf.nn.training.train_sdf` (fast CPU backend, the same
   seeds as the ``train`` stage) and scores it on the test sets with
   :func:`neusdf.evaluation.scores.sign_scores`.
3. Measures the loop's points/s at each batch size side by side (a few dozen steps each), so
   every recipe's seconds (its point-steps at that rate) come from one moment of one machine,
   while the F1 runs themselves may have shared the CPU with anything.
4. Prints one row per recipe: point-steps, loop seconds per mesh, mean / worst near-surface and
   volume F1; writes a PNG of F1 against seconds.

Results are kept per (recipe, mesh) in a JSON file next to the cache, so adding a recipe only
trains that recipe (``--fresh`` retrains everything; seconds are only comparable within one
run on an otherwise idle machine).

Usage::

    python bench/training_curve.py                          # default recipes, data/raw (~10 min)
    python bench/training_curve.py --recipes e6-s90,e20-250k --meshes ../shared/meshes
    python bench/training_curve.py --list                   # recipe names and settings
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
import torch
import yaml
from options import comma_separated

from neusdf.config import workflow_config
from neusdf.errors import NeusdfError
from neusdf.evaluation.scores import sign_scores
from neusdf.mesh.samples import read_samples
from neusdf.nn.models import SDFNetwork, predict_sdf
from neusdf.nn.training import train_sdf
from neusdf.pipeline.discovery import discover_objects
from neusdf.pipeline.normalize import normalize_object
from neusdf.pipeline.sample import sample_object
from neusdf.seeding import derive_seed

REPO = Path(__file__).resolve().parent.parent
# The study is of the tiny-cuda-nn-sized hash grid (no prior lattice); its recipe is that model's.
MODEL = "hashgrid_tcnn"
# Overrides of config.yaml's models.hashgrid_tcnn.training (and ``train_surface``: sample count).
# Every recipe is written as a change of the base recipe ``e20-250k``: 20 plain epochs over a
# sample file of 250k near-surface + 250k volume training points (10M point-steps).
BASE_SURFACE = 250_000
BASE_NAME = "e20-250k"
BASE = {
    "epochs": 20, "batch_size": 16384, "lr_encoding": 0.01, "lr_network": 0.01,
    "lr_schedule": "cosine", "lr_final_factor": 0.01, "points_per_epoch": None,
    "surface_fraction": None,
}  # fmt: skip
RECIPES: dict[str, dict] = {
    BASE_NAME: BASE,
    "reference_recipe": {**BASE, "batch_size": 65536, "lr_encoding": 0.001,
                         "lr_network": 0.001, "lr_schedule": "constant", "lr_final_factor": 1.0},
    "e10": {**BASE, "epochs": 10},
    "e6": {**BASE, "epochs": 6},
    "e4": {**BASE, "epochs": 4},
    "e3": {**BASE, "epochs": 3},
    "e6-s75": {**BASE, "epochs": 6, "surface_fraction": 0.75},
    "e6-s90": {**BASE, "epochs": 6, "surface_fraction": 0.9},
    "e8-s75": {**BASE, "epochs": 8, "surface_fraction": 0.75},
    "e8-s75-b32k": {**BASE, "epochs": 8, "surface_fraction": 0.75, "batch_size": 32768},
    "e5-s90": {**BASE, "epochs": 5, "surface_fraction": 0.9},
    "e6-s90-b32k": {**BASE, "epochs": 6, "surface_fraction": 0.9, "batch_size": 32768},
    "e4-s75": {**BASE, "epochs": 4, "surface_fraction": 0.75},
    "e12x250k": {**BASE, "epochs": 12, "points_per_epoch": 250_000},
    "e6-b8k": {**BASE, "epochs": 6, "batch_size": 8192},
    "e6-b32k": {**BASE, "epochs": 6, "batch_size": 32768, "lr_encoding": 0.02,
                "lr_network": 0.02},
    "e6-lr2e-2": {**BASE, "epochs": 6, "lr_encoding": 0.02, "lr_network": 0.02},
    "e6-s90-lr2e-2": {**BASE, "epochs": 6, "surface_fraction": 0.9, "lr_encoding": 0.02,
                      "lr_network": 0.02},
    "e6-s90-end1e-1": {**BASE, "epochs": 6, "surface_fraction": 0.9, "lr_final_factor": 0.1},
    "e7-s90": {**BASE, "epochs": 7, "surface_fraction": 0.9},
    # Same point-steps as e6-s90 (6 epochs of 500k, 90 % near-surface), drawn from more distinct
    # near-surface points (the sample file's train_surface).
    "s500k-e6": {**BASE, "epochs": 6, "surface_fraction": 0.9, "points_per_epoch": 500_000,
                 "train_surface": 500_000},
    "s1M-e6": {**BASE, "epochs": 6, "surface_fraction": 0.9, "points_per_epoch": 500_000,
               "train_surface": 1_000_000},
    "s2M-e6": {**BASE, "epochs": 6, "surface_fraction": 0.9, "points_per_epoch": 500_000,
               "train_surface": 2_000_000},
    "s1M-e5": {**BASE, "epochs": 5, "surface_fraction": 0.9, "points_per_epoch": 500_000,
               "train_surface": 1_000_000},
}  # fmt: skip
# The recipe config.yaml's models.hashgrid_tcnn.training and sample.train_surface hold
# (tests/test_bench.py checks).
CONFIG_DEFAULT = "s1M-e6"
# The ones docs/performance.md's table shows (all measured in one run, results kept in the cache).
DEFAULT_RECIPES = "e3,e4,e6,e6-s75,e8-s75,e5-s90,e6-s90,e6-s90-b32k,s500k-e6,s1M-e5,s1M-e6,s2M-e6"


def base_model_config() -> dict:
    """``models.hashgrid_tcnn`` from config.yaml (a deep copy)."""
    config = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    return copy.deepcopy(config["models"][MODEL])


def train_surface(recipe: dict) -> int:
    """Near-surface training points of the sample file a recipe trains on."""
    return int(recipe.get("train_surface", BASE_SURFACE))


def prepare_samples(
    meshes: Path, cache: Path, n_surface: int = BASE_SURFACE, seed: int = 0
) -> dict[str, Path]:
    """Normalize and sample every mesh of ``meshes`` into ``cache`` once per ``n_surface``
    (near-surface training points); {name: samples-s<n_surface>.h5}.

    Meshes the pipeline rejects (a :class:`~neusdf.errors.NeusdfError`, e.g. an open triangle
    soup) are skipped, as the pipeline records them as failed objects.
    """
    config = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    counts = {**config["sample"], "train_surface": n_surface}
    out = {}
    for name, source in sorted(discover_objects(meshes).items()):
        folder = cache / name
        samples = folder / f"samples-s{n_surface}.h5"
        if (folder / "rejected.txt").is_file():
            continue
        if not samples.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            try:
                if not (folder / "meta.json").is_file():
                    normalize_object(
                        str(source), str(folder / "mesh.ply"), str(folder / "meta.json"),
                        config["normalize"]["half_extent"],
                    )  # fmt: skip
                sample_object(
                    str(folder / "mesh.ply"), str(folder / "meta.json"), str(samples), counts,
                    seed, 2,
                )  # fmt: skip
            except NeusdfError as exc:  # the pipeline records these as failed objects: skip
                (folder / "rejected.txt").write_text(f"{exc}\n")
                print(f"# skipped {name}: {exc}", file=sys.stderr)
                continue
            print(f"# sampled {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        out[name] = samples
    return out


def train_and_score(samples: Path, training: dict, seed: int, threads: int) -> dict:
    """Train one network as the ``train`` stage does (same seeds) and score its signs."""
    model_config = base_model_config()
    model_config["training"].update(
        {key: value for key, value in training.items() if key != "train_surface"}
    )
    train = read_samples(samples, "train")
    model_seed = derive_seed(seed, "train", MODEL)
    torch.manual_seed(model_seed)
    model = SDFNetwork(model_config, backend="fast", seed=model_seed % 2**31, threads=threads)
    result = train_sdf(
        model, train.points, train.sdf, model_config["training"], seed=model_seed,
        progress=False, source=train.source,
    )  # fmt: skip
    row = {"seconds": result.seconds, "point_steps": sum(h["points"] for h in result.history)}
    for split in ("surface", "volume"):
        test = read_samples(samples, f"test/{split}")
        row[f"f1_{split}"] = sign_scores(predict_sdf(model, test.points), test.sdf)["f1"]
    return row


def throughput(samples: Path, batch_sizes: list[int], threads: int, repeats: int = 2) -> dict:
    """Training points per second of the loop at each batch size, measured side by side now.

    Trains 24 steps per batch size (after 2 warm-up steps), ``repeats`` times interleaved, and
    keeps each batch size's best run (least disturbed by other processes).
    """
    model_config = base_model_config()
    train = read_samples(samples, "train")
    best = dict.fromkeys(batch_sizes, 0.0)
    for _ in range(repeats):
        for batch in batch_sizes:
            model = SDFNetwork(model_config, backend="fast", seed=0, threads=threads)
            config = {**model_config["training"], "batch_size": batch, "epochs": 1,
                      "surface_fraction": None}  # fmt: skip
            warm = {**config, "points_per_epoch": 2 * batch}
            train_sdf(model, train.points, train.sdf, warm, seed=0, progress=False)
            timed = {**config, "points_per_epoch": 24 * batch}
            result = train_sdf(model, train.points, train.sdf, timed, seed=1, progress=False)
            best[batch] = max(best[batch], 24 * batch / result.seconds)
    return best


def summarize(name: str, rows: list[dict], points_per_second: dict) -> dict:
    """Mean seconds and mean / worst F1 over meshes for one recipe.

    ``seconds`` is the recipe's point-steps at the loop throughput measured for its batch size
    (:func:`throughput`); ``measured_seconds`` the mean loop time of the runs themselves, which
    depends on what else ran while each was trained.
    """
    batch = RECIPES[name]["batch_size"]
    return {
        "recipe": name,
        "point_steps_M": rows[0]["point_steps"] / 1e6,
        "seconds": rows[0]["point_steps"] / points_per_second[batch],
        "measured_seconds": float(np.mean([r["seconds"] for r in rows])),
        "f1_surface": float(np.mean([r["f1_surface"] for r in rows])),
        "min_f1_surface": float(np.min([r["f1_surface"] for r in rows])),
        "f1_volume": float(np.mean([r["f1_volume"] for r in rows])),
        "min_f1_volume": float(np.min([r["f1_volume"] for r in rows])),
    }


def format_table(summaries: list[dict], base_seconds: float) -> str:
    """Markdown table sorted by seconds; "x base" divides by the base recipe's loop seconds
    (its 10M point-steps at the measured rate)."""
    base = base_seconds
    lines = [
        f"| recipe | settings | M point-steps | loop s | x {BASE_NAME} | measured s (loaded) "
        "| F1 surface (min) | F1 volume (min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sorted(summaries, key=lambda s: s["seconds"]):
        lines.append(
            f"| {s['recipe']} | {describe(RECIPES[s['recipe']])} | {s['point_steps_M']:.2f} "
            f"| {s['seconds']:.1f} | {s['seconds'] / base:.2f} | {s['measured_seconds']:.0f} "
            f"| {s['f1_surface']:.4f} ({s['min_f1_surface']:.4f}) "
            f"| {s['f1_volume']:.4f} ({s['min_f1_volume']:.4f}) |"
        )
    return "\n".join(lines)


def describe(recipe: dict) -> str:
    """Short text of the settings that differ from the base recipe."""
    diff = {k: v for k, v in recipe.items() if BASE.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in diff.items()) or "(the base: 20 epochs, 250k + 250k)"


def plot(summaries: list[dict], path: Path, title: str) -> None:
    """F1 (surface and volume) against loop seconds, one labelled point per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    for ax, key, target in ((axes[0], "f1_surface", 0.99), (axes[1], "f1_volume", 0.998)):
        for s in summaries:
            ax.plot(s["seconds"], s[key], "o", color="tab:blue")
            ax.annotate(s["recipe"], (s["seconds"], s[key]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.axhline(target, color="tab:red", lw=0.8, ls="--")
        ax.set_xlabel("loop seconds per mesh")
        ax.set_ylabel(f"mean {key.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meshes", type=Path, default=REPO / "data" / "raw")
    parser.add_argument("--cache", type=Path, default=None, help="default bench/out/curve-<dir>")
    parser.add_argument(
        "--recipes",
        type=comma_separated(RECIPES, "recipes"),
        default=DEFAULT_RECIPES.split(","),
        help="comma-separated names (--list)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="ignore stored results")
    parser.add_argument("--plot", type=Path, default=None, help="PNG path (default: none)")
    parser.add_argument("--list", action="store_true", help="print the recipes and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name, recipe in RECIPES.items():
            print(f"{name}: {describe(recipe)}")
        return 0
    torch.set_num_threads(args.threads)
    cache = args.cache or REPO / "bench" / "out" / f"curve-{args.meshes.resolve().name}"
    names = args.recipes
    with_base = names if BASE_NAME in names else [*names, BASE_NAME]
    counts = sorted({train_surface(RECIPES[n]) for n in with_base})
    sample_sets = {n: prepare_samples(args.meshes, cache, n, args.seed) for n in counts}
    samples = sample_sets[BASE_SURFACE]
    store = cache / "results.json"
    results = {} if args.fresh or not store.is_file() else json.loads(store.read_text())
    for name in names:
        for mesh, path in sample_sets[train_surface(RECIPES[name])].items():
            key = f"{name}/{mesh}"
            if key in results and results[key]["recipe"] == RECIPES[name]:
                continue
            row = train_and_score(path, RECIPES[name], args.seed, args.threads)
            results[key] = {**row, "recipe": RECIPES[name]}
            store.write_text(json.dumps(results, indent=1))
            print(f"# {key}: {row['seconds']:.1f} s  F1 surface {row['f1_surface']:.4f} "
                  f"volume {row['f1_volume']:.4f}", file=sys.stderr)  # fmt: skip
    batch_sizes = sorted({RECIPES[n]["batch_size"] for n in names} | {BASE["batch_size"]})
    speed = throughput(next(iter(samples.values())), batch_sizes, args.threads)
    summaries = [
        summarize(n, [results[f"{n}/{m}"] for m in samples], speed)
        for n in with_base
        if all(f"{n}/{m}" in results for m in samples)
    ]
    print(f"{len(samples)} meshes from {args.meshes}; fast backend, {args.threads} threads; "
          f"torch {torch.__version__}; loop points/s by batch size (measured now): "
          + ", ".join(f"{b}: {v:,.0f}" for b, v in speed.items()))  # fmt: skip
    base_points = 500_000 * BASE["epochs"]  # all 250k + 250k points of its file, every epoch
    print(format_table(summaries, base_points / speed[BASE["batch_size"]]))
    if args.plot:
        rate = ", ".join(f"batch {b}: {v:,.0f}" for b, v in speed.items())
        title = (
            f"{len(samples)} meshes ({args.meshes.name}), {args.threads} CPU threads; "
            f"seconds = point-steps / measured points/s ({rate})"
        )
        plot(summaries, args.plot, title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
