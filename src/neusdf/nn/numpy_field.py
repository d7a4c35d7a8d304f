"""Every model kind evaluated on the CPU without torch, from a checkpoint's arrays.

The hash grid runs the fast backend's numba encoder and the bias-free ReLU MLP as numpy matrix
products; the MLP kinds are numpy products; the lattices are trilinear lookups. Jobs and users that
only evaluate a trained field on a CPU use this path and never import torch. Each evaluator's
reference is the torch model of its kind (:mod:`neusdf.nn.models`, :mod:`neusdf.nn.baselines`):
they agree to float32 rounding (tested).
"""

from __future__ import annotations

import numpy as np

from neusdf.config import schema_default
from neusdf.encoding.config import encoding_config
from neusdf.encoding.fast import FastEncoder
from neusdf.encoding.memory import large_zeros_array
from neusdf.nn.kernels import mlp_forward
from neusdf.threads import numba_threads

__all__ = ["HashGridField", "LatticeField", "MLPField", "numpy_evaluator"]

_NO_BIAS = np.zeros(0, dtype=np.float32)
# Points per evaluation call when the caller names none: the workflow's default.
BATCH_SIZE = schema_default("evaluate", "batch_size")


class MLPField:
    """``(N, D) inputs -> (N,)`` of an MLP given as ``nn.Linear`` weights (kinds ``mlp``,
    ``deepsdf``, and the network behind a hash grid), by :func:`neusdf.nn.kernels.mlp_forward`.

    Parameters
    ----------
    layers : list of (weight, bias)
        ``weight`` (out, in) float, ``bias`` (out,) float or None, as ``nn.Linear`` stores them.
    skip_layer : int or None
        Index of the layer whose input is the previous output followed by the point.
    output_tanh : bool
        tanh on the output.
    threads : int or None
        numba threads (None: the count in effect).
    """

    def __init__(self, layers, skip_layer=None, output_tanh=False, threads=None):
        # Own, writable copies: numba compiles one specialisation for all of them.
        self.weights = tuple(np.array(np.asarray(w).T, np.float32, order="C") for w, _ in layers)
        self.biases = tuple(
            _NO_BIAS if b is None else np.array(b, np.float32, order="C") for _, b in layers
        )
        self.skip_layer = -1 if skip_layer is None else int(skip_layer)
        self.output_tanh = bool(output_tanh)
        self.threads = threads
        self.n_table_parameters = 0

    @classmethod
    def of_checkpoint(cls, kind: str, model_config: dict, arrays: dict, threads=None) -> MLPField:
        """The evaluator of a ``mlp`` or ``deepsdf`` checkpoint's arrays; DeepSDF's weight-normed
        layers are folded into plain weights ``g * v / |v|`` (row norms), once."""
        layers = []
        if kind == "mlp":
            index = sorted(int(k.split(".")[1]) for k in arrays if k.endswith(".weight"))
            for i in index:
                layers.append((arrays[f"network.{i}.weight"], arrays[f"network.{i}.bias"]))
            return cls(layers, threads=threads)
        net = model_config["network"]
        for i in range(int(net["n_layers"])):
            prefix = f"layers.{i}.parametrizations.weight"
            g = np.asarray(arrays[f"{prefix}.original0"], np.float32)
            v = np.asarray(arrays[f"{prefix}.original1"], np.float32)
            weight = g * v / np.linalg.norm(v, axis=1, keepdims=True)
            layers.append((weight, arrays[f"layers.{i}.bias"]))
        return cls(layers, skip_layer=int(net["skip_layer"]), output_tanh=net["output_tanh"],
                   threads=threads)  # fmt: skip

    def evaluate(self, inputs: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The MLP on (M, D) float32 C-contiguous ``inputs`` into (M,) float32 ``out``."""
        with numba_threads(self.threads):
            mlp_forward(inputs, self.weights, self.biases, self.skip_layer, self.output_tanh, out)
        return out

    def __call__(self, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Signed distances (N,) float32 of (N, 3) points in the normalized frame."""
        points = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
        return self.evaluate(points, np.empty(len(points), dtype=np.float32))


class HashGridField:
    """``(N, 3) points -> (N,) signed distances`` of a hash-grid checkpoint's weights.

    Parameters
    ----------
    model_config : dict
        The checkpoint's ``model_config`` (``kind`` hashgrid).
    state_dict : dict of numpy arrays
        The checkpoint's arrays (:class:`neusdf.nn.checkpoint.Checkpoint`): the flat table
        ``encoding.params`` (float32 or float16, tcnn order) and the MLP's
        ``network.<i>.weight`` matrices (out, in).
    threads : int or None
        numba threads of the encoder and the MLP (None: the count in effect).

    Notes
    -----
    Calls reuse a feature buffer: one field serves one thread at a time. A point's value does
    not depend on the batch it comes in or on ``threads``.
    """

    def __init__(self, model_config: dict, state_dict: dict, threads: int | None = None):
        config = encoding_config(model_config)
        self.encoder = FastEncoder(config, threads)
        stored = np.asarray(state_dict["encoding.params"]).ravel()
        # Huge pages, as in training: random lookups into a large table miss the TLB otherwise;
        # numba also wants a writable array (one compiled specialisation).
        table = large_zeros_array(stored.size)
        table[:] = stored
        self.table = table.reshape(-1, config.n_features_per_level)
        layers = sorted(
            (int(key.split(".")[1]), value)
            for key, value in state_dict.items()
            if key.startswith("network.") and key.endswith(".weight")
        )
        self.mlp = MLPField([(weight, None) for _, weight in layers], threads=threads)
        self.prior = (
            LatticeField(state_dict["prior.values"]) if "prior.values" in state_dict else None
        )
        prior = 0 if self.prior is None else self.prior.n_table_parameters
        self.n_parameters = int(table.size + sum(w.size for w in self.mlp.weights) + prior)
        self.n_table_parameters = int(table.size) + prior
        self._features = np.empty((0, config.output_dim), dtype=np.float32)

    def __call__(self, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Signed distances (N,) float32 of (N, 3) points in the normalized frame [-1, 1]^3."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        out = np.empty(len(points), dtype=np.float32)
        for start in range(0, len(points), batch_size):
            unit = np.ascontiguousarray((points[start : start + batch_size] + 1.0) * 0.5)
            if len(self._features) < len(unit):
                self._features = np.empty((len(unit), self._features.shape[1]), np.float32)
            features = self.encoder.encode(unit, self.table, out=self._features[: len(unit)])
            self.mlp.evaluate(features, out[start : start + len(unit)])
        if self.prior is not None:
            out += self.prior(points, batch_size)
        return out


class LatticeField:
    """Trilinear interpolation of an R^3 lattice over [-1, 1]^3 (kinds ``densegrid``,
    ``exact_grid``): the values of ``torch.nn.functional.grid_sample`` with
    ``align_corners=True`` and border padding.

    Parameters
    ----------
    values : (R, R, R) float
        Node values indexed ``[z, y, x]``; node ``i`` of an axis sits at ``-1 + 2 i / (R - 1)``.
    """

    def __init__(self, values: np.ndarray):
        self.values = np.ascontiguousarray(values, dtype=np.float32)
        self.n_table_parameters = int(self.values.size)

    def __call__(self, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Values (N,) float32 at (N, 3) points; outside [-1, 1]^3 the border value is used."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        out = np.empty(len(points), dtype=np.float32)
        last = self.values.shape[0] - 1
        flat = self.values.ravel()
        for start in range(0, len(points), batch_size):
            # Continuous node coordinates (x, y, z), clamped to the lattice (border padding).
            u = np.clip((points[start : start + batch_size] + 1.0) * (0.5 * last), 0.0, last)
            lo = np.minimum(np.floor(u).astype(np.int64), max(last - 1, 0))
            frac = u - lo
            total = np.zeros(len(u), dtype=np.float32)
            for corner in range(8):
                step = [(corner >> axis) & 1 for axis in range(3)]
                weight = np.ones(len(u), dtype=np.float32)
                for axis in range(3):
                    weight *= frac[:, axis] if step[axis] else 1.0 - frac[:, axis]
                x, y, z = (np.minimum(lo[:, axis] + step[axis], last) for axis in range(3))
                total += weight * flat[(z * (last + 1) + y) * (last + 1) + x]
            out[start : start + len(u)] = total
        return out


def expected_shapes(kind: str, model_config: dict) -> dict[str, tuple[int, ...]]:
    """The name and shape of every array a checkpoint of ``kind`` and ``model_config`` holds
    (the torch model's ``state_dict``), worked out without building the model."""
    if kind in ("densegrid", "exact_grid"):
        r = int(model_config["grid"]["resolution"])
        return {"values": (r, r, r)}
    net = model_config["network"]
    if kind == "deepsdf":
        width, n_layers = int(net["n_neurons"]), int(net["n_layers"])
        shapes, n_in = {}, 3
        for i in range(n_layers):
            n_out = (
                1 if i == n_layers - 1 else width - 3 if i + 1 == int(net["skip_layer"]) else width
            )
            prefix = f"layers.{i}.parametrizations.weight"
            shapes.update({f"layers.{i}.bias": (n_out,), f"{prefix}.original0": (n_out, 1),
                           f"{prefix}.original1": (n_out, n_in)})  # fmt: skip
            n_in = width
        return shapes
    width, n_hidden = int(net["n_neurons"]), int(net["n_hidden_layers"])
    if kind == "hashgrid":
        config = encoding_config(model_config)
        shapes, n_in = {"encoding.params": (config.n_params,)}, config.output_dim
        if "prior" in model_config:
            r = int(model_config["prior"]["resolution"])
            shapes["prior.values"] = (r, r, r)
    else:
        shapes, n_in = {}, 3
    for i in range(n_hidden + 1):
        n_out = 1 if i == n_hidden else width
        shapes[f"network.{2 * i}.weight"] = (n_out, n_in)
        if kind == "mlp":
            shapes[f"network.{2 * i}.bias"] = (n_out,)
        n_in = n_out
    return shapes


def numpy_evaluator(kind: str, model_config: dict, arrays: dict, threads: int | None = None):
    """The torch-free evaluator of one checkpoint's arrays: ``(N, 3) normalized points ->
    (N,) float32`` with ``n_table_parameters`` (feature-table or lattice scalars).

    Raises
    ------
    ValueError
        The arrays are not the ones ``kind`` and ``model_config`` call for (names and shapes).
    """
    expected = expected_shapes(kind, model_config)
    found = {name: tuple(array.shape) for name, array in arrays.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected))
        wrong += sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        raise ValueError(f"arrays {', '.join(wrong)} missing, unexpected or of another shape")
    if kind == "hashgrid":
        return HashGridField(model_config, arrays, threads)
    if kind in ("mlp", "deepsdf"):
        return MLPField.of_checkpoint(kind, model_config, arrays, threads)
    if kind in ("densegrid", "exact_grid"):
        return LatticeField(arrays["values"])
    raise ValueError(f"unknown model kind {kind!r}")
