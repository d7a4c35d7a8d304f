"""Stage 6, plot: slices of ground truth, prediction and error; the summary figure."""

from __future__ import annotations

from neusdf.groundtruth import GroundTruth
from neusdf.nn.field import load_field
from neusdf.pipeline.compute import Compute


def plot_object(
    checkpoint_path: str,
    gt_mesh_path: str,
    meta_path: str,
    png_out: str,
    title: str,
    cfg: dict,
    sample_cfg: dict,
    compute: Compute,
) -> None:
    """Ground truth / prediction / error slices through the center (``cfg = config["plot"]``,
    the ground truth as configured in ``sample_cfg = config["sample"]``, set up once)."""
    from neusdf.evaluation.plots import plot_sdf_slices

    field = load_field(
        checkpoint_path, backend=compute.backend, device=compute.device, threads=compute.threads
    )
    # The sample job already refused meshes that enclose no volume.
    truth = GroundTruth.of_normalized(
        gt_mesh_path, meta_path, sample_cfg, compute.threads, check_volume=False
    )
    resolution = int(cfg["resolution"])
    # All three slices in one call of each field.
    plot_sdf_slices(
        truth, field, png_out, resolution=resolution, title=title, batch_size=3 * resolution**2
    )


def plot_summary_file(summary_csv: str, png_out: str) -> None:
    """Per-model bar charts of surface F1, volume F1 and Chamfer L1 from ``summary.csv``."""
    from neusdf.evaluation.plots import plot_summary
    from neusdf.evaluation.summary import read_summary

    plot_summary(read_summary(summary_csv), png_out)


def plot_collection_file(summary_csv: str, png_out: str, worst_csv: str) -> None:
    """The collection figure (:func:`neusdf.evaluation.plots.plot_collection`) and the table of
    the worst objects per model (:func:`neusdf.evaluation.summary.worst_objects`, with the path
    of each one's slice figure) from ``summary.csv``."""
    from neusdf.evaluation.plots import plot_collection
    from neusdf.evaluation.summary import read_summary, worst_objects
    from neusdf.io import atomic_path

    frame = read_summary(summary_csv)
    plot_collection(frame, png_out)
    with atomic_path(worst_csv) as tmp:
        worst_objects(frame).to_csv(tmp, index=False, float_format="%.6g")
