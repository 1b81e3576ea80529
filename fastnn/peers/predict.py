"""Inference peer (``fastnn bench --predict``): ``predict_proba`` of one trained MNIST net.

    python -m fastnn.peers.predict --system torch --dir DIR [--calls 1000] [--threads 2]

``DIR`` holds what the parent wrote: ``weights.npz`` (``W0, b0, W1, ...``: W (in, out)
float32), ``model.npz`` (fastnn's model file), ``model.onnx`` (``fastnn.onnx.export``) and
``reference.npy`` (fastnn numpy's probabilities of the 10,000 MNIST test images). Every
system predicts with those same weights, the way its users call it, with its own defaults
and T threads:

- ``fastnn`` (``--backend numba|numpy``): ``fnn.load(model.npz).predict_proba``;
- ``onnxruntime``: an ``InferenceSession`` of ``model.onnx`` (CPU provider,
  ``intra_op_num_threads=T``), output ``probabilities``;
- ``torch``: ``nn.Sequential`` of ``nn.Linear`` + ``nn.ReLU`` holding the weights, softmax
  of the logits under ``torch.inference_mode()``, numpy in and out;
- ``sklearn``: ``MLPClassifier`` whose ``coefs_`` and ``intercepts_`` are set to the weights
  (its other fitted attributes come from one ``partial_fit`` on ten rows first; the
  weights then replace what that call learned), BLAS threads limited by threadpoolctl.

Latency: the median (and 90th percentile) of ``--calls`` calls on one row each (the rows
taken in turn), after 20 untimed calls. Throughput: the median of ``--repeats`` calls on all
10,000 rows, after one untimed call. ``max_abs_diff``: the largest difference from the
reference probabilities. One JSON line on stdout; a missing library prints a skip.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fastnn import peers
from fastnn.benchmark.workload import DEFAULT_THREADS, load_mnist_test

SYSTEMS = ("fastnn", "onnxruntime", "torch", "sklearn")
WARMUP_CALLS = 20


def parse_args(argv=None) -> argparse.Namespace:
    """The options (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m fastnn.peers.predict",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument("--backend", choices=("numba", "numpy"), default="numba",
                        help="fastnn's backend (--system fastnn)")
    parser.add_argument("--dir", type=Path, required=True, help="the parent's files")
    parser.add_argument("--calls", type=int, default=1000, help="batch-1 calls timed")
    parser.add_argument("--repeats", type=int, default=5, help="full-batch calls timed")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args(argv)
    args.threads = min(args.threads, os.cpu_count() or args.threads)
    return args


def weights(directory: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W (in, out), b (out,)), ...] float32, from ``weights.npz``."""
    with np.load(directory / "weights.npz") as saved:
        return [(saved[f"W{l}"], saved[f"b{l}"]) for l in range(len(saved.files) // 2)]


def fastnn_system(args) -> tuple[str, Callable, dict]:
    """fastnn on --backend: (version, predict_proba, details)."""
    import fastnn as fnn

    fnn.set_num_threads(args.threads)
    fnn.set_backend(args.backend)
    model = fnn.load(args.dir / "model.npz")
    return fnn.__version__, model.predict_proba, {"backend": args.backend,
                                                 "blas": peers.blas_info()}


def onnxruntime_system(args) -> tuple[str, Callable, dict]:
    """ONNX Runtime on model.onnx: (version, predict_proba, details)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(args.dir / "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])

    def predict_proba(X):
        return session.run(["probabilities"], {"X": X})[0]

    return ort.__version__, predict_proba, {"providers": session.get_providers()}


def torch_system(args) -> tuple[str, Callable, dict]:
    """PyTorch eager: (version, predict_proba, details)."""
    import torch

    from fastnn.peers.torch_mlp import blas_info

    torch.set_num_threads(args.threads)
    layers = []
    for W, b in weights(args.dir):
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).eval()

    def predict_proba(X):
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(X)), dim=1).numpy()

    return torch.__version__, predict_proba, {"blas": blas_info(torch)}


def sklearn_system(args) -> tuple[str, Callable, dict]:
    """scikit-learn's MLPClassifier: (version, predict_proba, details)."""
    import sklearn
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    pairs = weights(args.dir)
    k = pairs[-1][0].shape[1]
    model = MLPClassifier(hidden_layer_sizes=[W.shape[1] for W, _ in pairs[:-1]],
                          activation="relu")
    X = load_mnist_test()[0][:k]
    model.partial_fit(X, np.arange(k), classes=np.arange(k))  # fitted attributes
    model.coefs_ = [W for W, _ in pairs]
    model.intercepts_ = [b for _, b in pairs]
    limits = threadpool_limits(limits=args.threads)  # for the rest of this process
    return sklearn.__version__, model.predict_proba, {"blas": peers.blas_info(),
                                                      "threadpool_limits": str(limits)}


def time_calls(predict_proba: Callable, X: np.ndarray, calls: int, repeats: int) -> dict:
    """Latency (one row per call) and throughput (all rows per call), in seconds."""
    for i in range(WARMUP_CALLS):
        predict_proba(X[i:i + 1])
    latencies = []
    for i in range(calls):
        row = X[i % len(X):i % len(X) + 1]
        start = time.perf_counter()
        predict_proba(row)
        latencies.append(time.perf_counter() - start)
    predict_proba(X)
    full = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict_proba(X)
        full.append(time.perf_counter() - start)
    return {"latency_s": statistics.median(latencies),
            "latency_p90_s": float(np.percentile(latencies, 90)),
            "throughput_s": statistics.median(full), "samples_per_s":
                len(X) / statistics.median(full), "calls": calls, "repeats": repeats}


def main(argv=None) -> None:
    args = parse_args(argv)
    label = args.system if args.system != "fastnn" else f"fastnn {args.backend}"
    build = {"fastnn": fastnn_system, "onnxruntime": onnxruntime_system,
             "torch": torch_system, "sklearn": sklearn_system}[args.system]
    try:
        version, predict_proba, info = build(args)
    except ImportError as exc:
        peers.skip(label, f"{exc.name or args.system} is not installed")
    X = load_mnist_test()[0]
    timing = time_calls(predict_proba, X, args.calls, args.repeats)
    reference = np.load(args.dir / "reference.npy")
    difference = float(np.max(np.abs(predict_proba(X).astype(np.float64) - reference)))
    print(json.dumps({"peer": label, "version": version, "threads": args.threads,
                      "max_abs_diff": difference, **timing, **info}), flush=True)


if __name__ == "__main__":
    main()
