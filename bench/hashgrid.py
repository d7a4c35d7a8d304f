"""Benchmark the hash-grid encoding backends on the CPU.

Training step = encoding forward + MLP forward/backward (torch) + encoding backward + Adam on the
table and the MLP, batch 2**16 (``--train-batch``). Inference = encoding + MLP forward without
grad, batch 2**18.
Variants: the plain-PyTorch reference eagerly, the reference under ``torch.compile`` (forward and
backward compiled; its table update is a compiled branch-free masked Adam over all parameters),
and the fast numba kernel with its sparse Adam, as the package runs it (``fast``: idle OpenMP
pools sleep) and with libgomp's default (``fast-spinning``: idle OpenMP pools spin). Each variant
runs in its own subprocess so the reported peak RSS is that variant's alone.

Usage::

    python bench/hashgrid.py            # ~3 minutes on 2 cores
    python bench/hashgrid.py --quick    # fewer steps
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

# isort: off
from neusdf.threads import sleeping_idle_threads

sleeping_idle_threads()  # before torch loads OpenMP

# isort: on
import torch
from options import comma_separated

from neusdf.encoding.config import HashGridConfig
from neusdf.encoding.module import HashGridEncoding
from neusdf.encoding.reference import hashgrid_encode_reference

CONFIG = HashGridConfig.from_finest_resolution(
    n_levels=16, n_features_per_level=2, log2_hashmap_size=19, base_resolution=16,
    finest_resolution=2048,
)  # fmt: skip
TRAIN_BATCH = 1 << 16
INFER_BATCH = 1 << 18
INFER_MLP_CHUNK = 1 << 14


def make_mlp(n_input: int, seed: int) -> torch.nn.Module:
    """tcnn-shaped SDF head: n_input -> 64 -> 64 -> 1, ReLU, no biases."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(n_input, 64, bias=False),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64, bias=False),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 1, bias=False),
    )


def _batches(n_points: int, n_batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        x = torch.rand(n_points, 3, generator=gen)
        # A smooth target (distance to a sphere) so the loss is a realistic regression.
        target = (x - 0.5).norm(dim=1, keepdim=True) - 0.3
        out.append((x, target))
    return out


def _masked_adam_where(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps):
    """Branch-free masked Adam over every parameter (what one writes for torch.compile)."""
    keep = grad == 0
    m = torch.where(keep, exp_avg, exp_avg * beta1 + grad * (1 - beta1))
    v = torch.where(keep, exp_avg_sq, exp_avg_sq * beta2 + grad * grad * (1 - beta2))
    bias1 = 1 - beta1**step
    bias2_sqrt = (1 - beta2**step) ** 0.5
    update = (m / (v.sqrt() / bias2_sqrt + eps)) * (lr / bias1)
    param.copy_(torch.where(keep, param, param - update))
    exp_avg.copy_(m)
    exp_avg_sq.copy_(v)
    grad.zero_()


def _time_steps(step_fn, batches, n_warmup: int) -> float:
    """Seconds per step over ``batches`` after ``n_warmup`` untimed steps."""
    for x, t in batches[:n_warmup]:
        step_fn(x, t)
    start = time.perf_counter()
    for x, t in batches[n_warmup:]:
        step_fn(x, t)
    return (time.perf_counter() - start) / max(1, len(batches) - n_warmup)


def run_variant(
    name: str, n_train: int, n_infer: int, threads: int | None, train_batch: int = TRAIN_BATCH
) -> dict:
    """Measure one variant; returns points/s for training and inference and peak RSS (MiB)."""
    if threads is not None:
        torch.set_num_threads(threads)
    backend = "fast" if name.startswith("fast") else "reference"
    enc = HashGridEncoding(CONFIG, backend=backend, seed=0, threads=threads)
    mlp = make_mlp(CONFIG.output_dim, seed=0)
    opt_mlp = torch.optim.Adam(mlp.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    lr, betas, eps = 1e-2, (0.9, 0.99), 1e-15

    def mlp_chunked(feats, head=mlp):
        # Same for every variant: chunks keep the MLP's activations in cache (2**18 x 64 floats
        # per layer would otherwise be fresh, page-faulting 64 MB tensors).
        return torch.cat([head(chunk) for chunk in feats.split(INFER_MLP_CHUNK)])

    if name in ("fast", "fast-spinning", "reference"):
        opt_enc = enc.make_optimizer(lr=lr, betas=betas, eps=eps)

        def train_step(x, target):
            loss = torch.nn.functional.l1_loss(mlp(enc(x)), target)
            loss.backward()
            opt_enc.step()
            opt_mlp.step()
            opt_enc.zero_grad()
            opt_mlp.zero_grad()

        def infer(x):
            with torch.no_grad():
                return mlp_chunked(enc(x))

    elif name == "reference+compile":

        def loss_fn(x, target):
            feats = hashgrid_encode_reference(x, enc.params, CONFIG)
            return torch.nn.functional.l1_loss(mlp(feats), target)

        compiled_loss = torch.compile(loss_fn)
        compiled_adam = torch.compile(_masked_adam_where)
        exp_avg = torch.zeros_like(enc.params)
        exp_avg_sq = torch.zeros_like(enc.params)
        step_count = [0]

        def train_step(x, target):
            compiled_loss(x, target).backward()
            step_count[0] += 1
            with torch.no_grad():
                compiled_adam(enc.params, enc.params.grad, exp_avg, exp_avg_sq,
                              float(step_count[0]), lr, betas[0], betas[1], eps)  # fmt: skip
            opt_mlp.step()
            opt_mlp.zero_grad()

        compiled_encode = torch.compile(hashgrid_encode_reference)
        compiled_mlp = torch.compile(mlp)

        def infer(x):
            with torch.no_grad():
                return mlp_chunked(compiled_encode(x, enc.params, CONFIG), compiled_mlp)

    else:
        raise ValueError(name)

    t_train = _time_steps(train_step, _batches(train_batch, n_train, seed=1), n_warmup=2)
    infer_batches = _batches(INFER_BATCH, n_infer, seed=2)
    t_infer = _time_steps(lambda x, _t: infer(x), infer_batches, n_warmup=1)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {
        "variant": name,
        "train_pts_per_s": train_batch / t_train,
        "infer_pts_per_s": INFER_BATCH / t_infer,
        "train_step_ms": t_train * 1e3,
        "infer_batch_ms": t_infer * 1e3,
        "peak_rss_mib": peak_mib,
    }


def _child(name, n_train, n_infer, threads, train_batch, queue):
    queue.put(run_variant(name, n_train, n_infer, threads, train_batch))


def run_in_subprocess(
    name: str, n_train: int, n_infer: int, threads: int | None, train_batch: int = TRAIN_BATCH
) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, n_train, n_infer, threads, train_batch, queue))
    # "fast-spinning" = the fast backend with OpenMP pools spinning while idle (libgomp's
    # default). The child inherits the environment, and neusdf leaves a set value alone.
    previous = os.environ.get("OMP_WAIT_POLICY")
    if name == "fast-spinning":
        os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
    try:
        proc.start()
    finally:
        if previous is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = previous
    result = queue.get()
    proc.join()
    return result


# Run in a fresh interpreter, as the train rule's script is: imports, then train_object.
_TRAIN_JOB = """
import json, sys, time
start = time.perf_counter()
from neusdf.config import workflow_config
from neusdf.pipeline.compute import Compute
from neusdf.threads import set_threads
from neusdf.pipeline.train import train_object
import yaml
imported = time.perf_counter()
config = workflow_config(yaml.safe_load(open(sys.argv[1])))
set_threads(2)
out = sys.argv[2]
record = train_object(out + "/s.h5", out + "/n.json", out + "/m.safetensors", out + "/h.csv",
                      "hashgrid",
                      config["models"]["hashgrid"], Compute("auto", "cpu", 2), 0, progress=False)
done = time.perf_counter()
print(json.dumps({"import_seconds": imported - start, "call_seconds": done - imported, **record}))
"""


def whole_train_rule_line(obj: str = "sphere") -> dict:
    """Time the pipeline's train job (default config) on one default object.

    Normalizes and samples ``data/raw/<obj>.*`` into a temporary folder first (not timed), then
    runs, in a fresh Python process as the ``train`` rule does, the imports of
    ``scripts/train.py`` and :func:`neusdf.pipeline.train.train_object` (HDF5 read, training,
    checkpoint and history write). ``job_seconds`` is that process's wall time.
    """
    import subprocess
    import tempfile
    from pathlib import Path

    import yaml

    from neusdf.config import workflow_config
    from neusdf.pipeline.discovery import discover_objects
    from neusdf.pipeline.normalize import normalize_object
    from neusdf.pipeline.sample import sample_object

    repo = Path(__file__).resolve().parent.parent
    config = workflow_config(yaml.safe_load((repo / "config.yaml").read_text()))
    source = discover_objects(repo / "data" / "raw")[obj]
    with tempfile.TemporaryDirectory(prefix="neusdf-bench-") as tmp:
        out = Path(tmp)
        normalize_object(source, out / "n.ply", out / "n.json", 0.9)
        sample_object(out / "n.ply", out / "n.json", out / "s.h5", config["sample"], 0, 2)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _TRAIN_JOB, str(repo / "config.yaml"), str(out)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        job_seconds = time.perf_counter() - start
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    training = config["models"]["hashgrid"]["training"]
    points = training.get("points_per_epoch") or "500k"
    surface = training.get("surface_fraction")
    mix = "file's mix" if surface is None else f"{surface:.0%} near-surface"
    return {
        "object": obj,
        "recipe": f"{training['epochs']} epochs x {points} points ({mix}), "
        f"batch {training['batch_size']}",
        "loop_seconds": record["seconds"],
        "import_seconds": record["import_seconds"],
        "call_seconds": record["call_seconds"],
        "job_seconds": job_seconds,
        "points_per_second": record["points_per_second"],
        "backend": record["backend"],
    }


def format_table(rows: list[dict]) -> str:
    base = next((r for r in rows if r["variant"] == "reference+compile"), None)
    lines = [
        f"{'variant':<20} {'train pts/s':>12} {'x compile':>9} {'infer pts/s':>12} "
        f"{'x compile':>9} {'train ms':>9} {'infer ms':>9} {'peak RSS MiB':>12}"
    ]
    for r in rows:
        tr = r["train_pts_per_s"] / base["train_pts_per_s"] if base else float("nan")
        nan = float("nan")
        inf = r.get("infer_pts_per_s", nan)
        ir = inf / base["infer_pts_per_s"] if base else nan
        lines.append(
            f"{r['variant']:<20} {r['train_pts_per_s']:>12,.0f} {tr:>9.2f} {inf:>12,.0f} "
            f"{ir:>9.2f} {r.get('train_step_ms', nan):>9.1f} "
            f"{r.get('infer_batch_ms', nan):>9.1f} {r.get('peak_rss_mib', nan):>12.0f}"
        )
    return "\n".join(lines)


VARIANTS = ("reference", "reference+compile", "fast-spinning", "fast")


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (rougher numbers)")
    parser.add_argument("--threads", type=int, default=None, help="torch/numba threads")
    parser.add_argument(
        "--variants",
        type=comma_separated(VARIANTS, "variants"),
        default=list(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (default: all)",
    )
    parser.add_argument("--train-batch", type=int, default=TRAIN_BATCH, help="points per step")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--no-train-rule", action="store_true", help="skip timing the whole train stage"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Timed steps: training (2 warm-up steps not counted), inference (1 warm-up batch).
    steps = {"reference": (3, 2), "reference+compile": (4, 3), "fast": (12, 6)}
    if args.quick:
        steps = {"reference": (3, 2), "reference+compile": (3, 2), "fast": (6, 3)}
    steps["fast-spinning"] = steps["fast"]
    rows = []
    for name in args.variants:
        n_train, n_infer = steps[name]
        start = time.perf_counter()
        rows.append(
            run_in_subprocess(name, n_train + 2, n_infer + 1, args.threads, args.train_batch)
        )
        print(f"# {name}: measured in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    train_rule = None if args.no_train_rule else whole_train_rule_line()
    print(f"hash grid {CONFIG.n_params:,} params; train batch {args.train_batch}, "
          f"infer batch {INFER_BATCH}; torch {torch.__version__}, threads "
          f"{args.threads or torch.get_num_threads()}")  # fmt: skip
    print(format_table(rows))
    if train_rule is not None:
        print(
            f"whole train job, default config, object {train_rule['object']} "
            f"({train_rule['recipe']}, backend {train_rule['backend']}): "
            f"{train_rule['job_seconds']:.1f} s in a fresh process (imports "
            f"{train_rule['import_seconds']:.1f} s, train_object {train_rule['call_seconds']:.1f} s"
            f" of which loop {train_rule['loop_seconds']:.1f} s, "
            f"{train_rule['points_per_second']:,.0f} points/s)"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
