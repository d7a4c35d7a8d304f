"""Peak memory of each stage on a 2-million-face mesh with the default point counts.

Run: ``python bench/memory.py [--faces 2000000] [--out /tmp/neusdf-memory]``. Each stage runs in
its own process so its peak resident set size (ru_maxrss) is its own; prints one table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

STAGE = """
import json, resource, sys, time, yaml
from neusdf.config import workflow_config
from neusdf.pipeline.compute import Compute
from neusdf.threads import set_threads
set_threads(2)
cfg = workflow_config(yaml.safe_load(open({config!r})))
cpu = Compute("auto", "cpu", 2)
out = {out!r}
t = time.perf_counter()
if {stage!r} == "normalize":
    from neusdf.pipeline.normalize import normalize_object
    normalize_object({mesh!r}, out + "/n.ply", out + "/n.json", 0.9)
elif {stage!r} == "sample":
    from neusdf.pipeline.sample import sample_object
    sample_object(out + "/n.ply", out + "/n.json", out + "/s.h5", cfg["sample"], 0, 2)
elif {stage!r} == "train":
    from neusdf.pipeline.train import train_object
    model = cfg["models"]["hashgrid"]
    model["training"]["epochs"] = 1
    train_object(out + "/s.h5", out + "/n.json", out + "/m.safetensors", out + "/h.csv", "hashgrid",
                 model, cpu, 0, progress=False)
elif {stage!r} == "extract":
    from neusdf.pipeline.extract import extract_object
    extract_object(out + "/m.safetensors", out + "/x.ply", cfg["extract"], cpu)
elif {stage!r} == "evaluate":
    from neusdf.pipeline.evaluate import evaluate_object
    ev = dict(cfg["evaluate"], timing_repeats=2)
    evaluate_object(out + "/m.safetensors", out + "/s.h5", out + "/x.ply", out + "/x.json",
                    out + "/n.ply", out + "/e.json", "big", "hashgrid", ev, cfg["geometry"],
                    cpu, 0)
print(json.dumps({{"seconds": time.perf_counter() - t,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=2_000_000)
    parser.add_argument("--out", default=None)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="neusdf-memory-"))
    out.mkdir(parents=True, exist_ok=True)
    from neusdf.tools.badinputs import write_large_mesh

    mesh = write_large_mesh(out / "big.ply", args.faces)
    config = REPO / "config.yaml"
    rows = []
    for stage in ("normalize", "sample", "train", "extract", "evaluate"):
        code = STAGE.format(config=str(config), out=str(out), stage=stage, mesh=str(mesh))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"stage {stage} failed")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((stage, time.perf_counter() - start, result["peak_rss_mib"]))
    cfg = yaml.safe_load(config.read_text())
    points = sum(cfg["sample"][k] for k in ("train_surface", "train_volume"))
    print(
        f"mesh: {args.faces:,}+ faces; samples: {points:,} train + "
        f"{cfg['sample']['test_surface'] + cfg['sample']['test_volume']:,} test points"
    )
    print(f"{'stage':<10} {'wall s':>8} {'peak RSS MiB':>13}")
    for stage, seconds, rss in rows:
        print(f"{stage:<10} {seconds:>8.1f} {rss:>13.0f}")
    print("(train: one epoch; evaluate: default 1M test points, 2 timed repeats)")


if __name__ == "__main__":
    main()
