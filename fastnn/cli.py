"""The ``fastnn`` command: ``fastnn train PROBLEM``, ``info``, ``check``, ``bench``, ``export``.

Subcommands live in one table, ``COMMANDS``: each is a name, a help line, a function
adding its arguments and a function running it (returning the exit status); adding one
is two functions and a new entry (``_add_backend`` gives it
``--backend``, applied by ``main`` before the command runs). Every user
mistake (a bad argument, a missing data file, a fastnn error) ends as one line
``fastnn: error: <message>`` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import os
import platform
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ._args import int_at_least as _int_at_least, positive_int as _positive_int
from ._files import check_writable
from .errors import BackendError, FastnnError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PER_EPOCH_LINES_UP_TO = 200  # default --verbose: per-epoch lines only up to this many epochs
INFO_PACKAGES = ("numpy", "numba", "tqdm", "threadpoolctl", "matplotlib")
BACKEND_NAMES = ("numpy", "numba", "check")
MAX_CLASSES_SHOWN = 10  # a CSV table's class names printed before "..."


class UsageError(Exception):
    """A bad command line; raised by ArgumentParser.error instead of exiting."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


@dataclass(frozen=True)
class Command:
    """A subcommand: ``add_arguments(parser)`` then ``run(args) -> exit status``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- argument types: each raises ArgumentTypeError naming what it wanted ---------------

_non_negative_int = _int_at_least(0, "non-negative")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _batch_size(text: str) -> int | None:
    if text.strip().lower() == "full":
        return None
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer or 'full', got {text!r}") from None


def _hidden(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(_positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a comma list of positive layer sizes (e.g. 256,128) or 'none', "
            f"got {text!r}") from None


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_NAMES, type=str.lower,
                        help="kernel backend for this run, any case (default: "
                             "$FASTNN_BACKEND, else numba)")


# -- fastnn train -----------------------------------------------------------------------

def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from .problems import TASKS

    problems = _problems()
    width = max(map(len, problems))
    parser.description = "Train one of the tutorial problems and report its final metric.\n\n" + \
        "\n".join(f"  {p.name:<{width}}  {p.summary}" for p in problems.values()) + \
        f"\n  {'TABLE.csv':<{width}}  your own CSV table: --target COLUMN --task " \
        "classify|regress"
    parser.epilog = "\n".join(textwrap.wrap(
        "Defaults come from the problem (fastnn/problems.py); 'fastnn train mnist' runs 4 "
        "epochs, batch 128, SGD with Nesterov momentum 0.9, weight decay 5e-4 and a "
        "one-cycle schedule peaking at lr 0.2, hidden 256,128, seed 0.", 78)
        + [""] + textwrap.wrap(
        "A CSV table (header row, numeric feature columns, the target column by name: see "
        "fastnn.datasets.load_csv) trains an MLP with one hidden ReLU layer of 32 on a "
        "seeded 80% of its rows, features standardised by the model itself, and reports "
        "the held-out 20%: accuracy for --task classify (the target's distinct values, "
        "numbers or strings, are the classes; a numeric target that looks continuous is "
        "refused), R² for --task regress (on the standardised target). A model saved with "
        "--save takes the table's raw rows and predicts its classes, or its target in its "
        "own units. Ctrl-C with --save saves the epochs finished so far.",
        78, break_on_hyphens=False)
        + [""] + textwrap.wrap(
        "--plot out.png writes the training curves (loss and metric per epoch) to out.png "
        "and, beside it, the picture that shows the problem best: out-boundary.png, the "
        "decision boundary over the training points, for the 2-D problems (moons, xor, and, "
        "or); out-images.png, test digits titled with true and predicted labels (the first "
        "16, then the next 20 the model gets wrong, in red), for the MNIST problems.",
        78, break_on_hyphens=False))
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("problem", metavar="PROBLEM",
                        help=f"one of: {', '.join(problems)}; or a CSV file")
    parser.add_argument("--target", metavar="COLUMN", help="a CSV table's target column")
    parser.add_argument("--task", choices=TASKS, help="what to do with a CSV table's target")
    _add_backend(parser)
    parser.add_argument("--epochs", type=_positive_int, help="training epochs")
    parser.add_argument("--batch-size", type=_batch_size, default=argparse.SUPPRESS,
                        help="rows per batch, or 'full' for full-batch gradient descent")
    parser.add_argument("--lr", type=_positive_float,
                        help="learning rate (the schedule's peak for a problem with a "
                             "schedule, e.g. mnist)")
    parser.add_argument("--hidden", type=_hidden,
                        help="hidden layer sizes, comma separated (e.g. 256,128); 'none' "
                             "for no hidden layer")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="initialisation and shuffling seed (default 0)")
    parser.add_argument("--save", metavar="PATH", help="write the trained model here (.npz)")
    parser.add_argument("--data", metavar="DIR",
                        help="where the data files are (mnist, softmax-mnist, fashion-mnist, "
                             "housing)")
    parser.add_argument("--plot", metavar="PATH",
                        help="write figures: PNG, or SVG or PDF by suffix (see below)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2),
                        help="0 quiet, 1 progress bar, 2 also a line per epoch (default: 2 "
                             f"on a terminal when epochs <= {PER_EPOCH_LINES_UP_TO}, 1 on a "
                             "terminal otherwise, 0 off a terminal)")


def _run_train(args: argparse.Namespace) -> int:
    import numpy as np

    import fastnn as fnn

    _check_outputs(args)
    problem, classes = _problem(args)
    epochs = args.epochs or problem.epochs
    batch_size = getattr(args, "batch_size", problem.batch_size)  # None: full batch
    lr = args.lr or problem.lr
    verbose = _default_verbose(epochs) if args.verbose is None else args.verbose
    backend = fnn.backend_name()  # loads it: a bad FASTNN_BACKEND fails here, not later

    train, test = problem.load(args.data)
    model = problem.build(args.hidden, args.seed)
    print(f"{problem.name}: {problem.summary}")
    if classes:
        shown = ", ".join(f"{c}={i}" for i, c in enumerate(classes[:MAX_CLASSES_SHOWN]))
        print(f"classes: {shown}" + (", ..." if len(classes) > MAX_CLASSES_SHOWN else ""))
    hidden_act = f" {problem.activation}" if len(model.sizes) > 2 else ""
    print(f"model {'-'.join(map(str, model.sizes))}{hidden_act}, loss {model.loss}; "
          f"{_describe(problem.optimizer(lr))}; {epochs} epoch{'s' * (epochs != 1)}, "
          f"{'full batch' if batch_size is None else f'batch {batch_size}'}; "
          f"{len(train[0]):,} training rows; backend {backend}", flush=True)
    notice = fnn.get_backend().first_run_notice()
    if notice:
        print(notice, flush=True)
    start = time.perf_counter()
    # fit checks every loss and gradient itself and raises TrainingDivergedError naming
    # the epoch and batch; numpy's overflow warnings on the way there would only add noise.
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = problem.fit(model, train, epochs=epochs, batch_size=batch_size, lr=lr,
                                  verbose=verbose)
    except KeyboardInterrupt:
        _save_interrupted(problem, model, args.save, epochs)
        raise
    seconds = time.perf_counter() - start
    last = history.last()
    print(f"trained in {seconds:.1f} s ({epochs * len(train[0]) / seconds:,.0f} samples/s "
          f"overall); last epoch: loss {last['loss']:.4f}, {problem.metric} "
          f"{last[problem.metric]:.4f}")
    value = problem.score(model, test)
    if problem.threshold is None:
        print(f"{problem.scored_on} {problem.metric} {value:.4f} (held-out 20%; backend "
              f"{backend})")
    else:
        print(f"{problem.scored_on} {problem.metric} {value:.4f} (tutorial target >= "
              f"{problem.threshold:g}; backend {backend})")
        if value < problem.threshold:
            print(f"note: the tutorial target was missed ({value:.4f} < "
                  f"{problem.threshold:g}); train longer (--epochs, now {epochs}) or try "
                  f"another --seed")
    if args.save:
        problem.in_target_units(model)
        model.save(args.save)
        print(f"saved the model to {args.save}{_what_it_takes(problem, model)}")
    if args.plot:
        for path in _plot(problem, model, history, test, args.plot):
            print(f"wrote {path}")
    return 0


def _what_it_takes(problem, model) -> str:
    """What a saved model takes and predicts, for the line saying it was saved."""
    import numpy as np

    said = ""
    if np.ndim(model.input_scale) > 0 or np.any(model.input_shift != 0):
        said += (f"; it takes raw rows of the {model.sizes[0]} feature columns, in the "
                 f"table's order, and standardises them itself")
    elif model.input_scale != 1.0:
        said += (f"; it takes raw inputs and scales them by {model.input_scale:.6g} itself "
                 f"(for MNIST: the 0-255 pixels of load_mnist(dtype=np.uint8), not "
                 f"load_mnist()'s 0-1 floats)")
    if model.classes is not None:
        said += f"; predict returns the class names ({', '.join(map(str, model.classes))})"
    if problem.target_scaling is not None:
        said += "; predict returns the target in the table's own units"
    return said


def _save_interrupted(problem, model, path, epochs: int) -> None:
    """After Ctrl-C: save the finished epochs to ``path`` (if given) and say so on stderr;
    ``fit`` has put the model back to its last finished epoch."""
    if path is None:
        return
    done = model.history.epochs if model.history is not None else 0
    if done == 0:
        print(f"interrupted before the first epoch finished: nothing saved to {path}",
              file=sys.stderr)
        return
    problem.in_target_units(model)
    model.save(path)
    print(f"interrupted after {done} of {epochs} epochs: saved the model of epoch {done} to "
          f"{path}{_what_it_takes(problem, model)}", file=sys.stderr)


def _problems() -> dict:
    """Every named problem ``fastnn train`` knows: the tutorials, then the extra ones."""
    from .problems import EXTRA_PROBLEMS, PROBLEMS
    return {**PROBLEMS, **EXTRA_PROBLEMS}


def _problem(args):
    """``(problem, class names)`` for the PROBLEM argument: a named problem, or a CSV
    table with --target and --task."""
    from .problems import TASKS, table_problem

    problems = _problems()
    table = args.problem not in problems
    if table and not args.problem.lower().endswith((".csv", ".csv.gz")):
        raise UsageError(f"argument PROBLEM: expected one of {', '.join(problems)} or a "
                         f".csv file, got {args.problem!r}")
    if table and (args.target is None or args.task is None):
        raise UsageError(f"a CSV table needs --target COLUMN and --task "
                         f"{'|'.join(TASKS)}: {args.problem}")
    if not table:
        if args.target is not None or args.task is not None:
            raise UsageError(f"--target and --task are for CSV tables, not for problem "
                             f"{args.problem!r}")
        return problems[args.problem], ()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        found = table_problem(args.problem, args.target, args.task)
    for warning in caught:
        print(f"fastnn: warning: {warning.message}", file=sys.stderr)
    return found


def _describe(optimizer) -> str:
    """``SGD(lr=0.05, momentum=0.9)``: the fields that differ from their defaults, and lr."""
    settings = [f"{f.name}={getattr(optimizer, f.name)!r}" for f in dataclasses.fields(optimizer)
                if f.name == "lr" or getattr(optimizer, f.name) != f.default]
    return f"{type(optimizer).__name__}({', '.join(settings)})"


def _default_verbose(epochs: int) -> int:
    if not sys.stdout.isatty():
        return 0
    return 2 if epochs <= PER_EPOCH_LINES_UP_TO else 1


def _check_outputs(args) -> None:
    """Fail before training, not after, if --save or --plot cannot be written."""
    if args.plot:
        from .plot import figure_format
        try:
            figure_format(args.plot)
        except FastnnError as exc:
            raise UsageError(f"argument --plot: {exc}") from None
    for option, path in (("--save", args.save), ("--plot", args.plot)):
        if path is not None:
            try:
                check_writable(path)
            except OSError as exc:
                raise UsageError(f"argument {option}: {exc}") from None
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("argument --plot: plotting needs matplotlib, which is not installed: "
                         "pip install 'fastnn[plot]'")


def _plot(problem, model, history, test, path) -> list[str]:
    """Write the training curves to ``path`` and the problem's picture beside it."""
    import numpy as np

    from . import plot

    written = [path]
    plot.plot_history(history, path)
    stem, suffix = os.path.splitext(path)
    X, y = test
    if problem.picture == "boundary":
        extra = f"{stem}-boundary{suffix}"
        plot.plot_decision_boundary(model, X, y, extra,
                                    title=f"{problem.name}: {problem.scored_on} "
                                          f"{problem.metric} {problem.score(model, test):.4f}")
        written.append(extra)
    elif problem.picture == "images":
        extra = f"{stem}-images{suffix}"
        predicted = model.predict(X)
        first = min(16, len(y))
        mistakes = first + np.flatnonzero(predicted[first:] != y[first:])[:20]
        pick = np.concatenate([np.arange(first), mistakes])
        plot.plot_images(X[pick], y[pick], predicted[pick], extra, n=len(pick))
        written.append(extra)
    return written


# -- fastnn info ------------------------------------------------------------------------

def _add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Versions of fastnn and its dependencies, the backend in force and "
                          "the thread settings.")
    _add_backend(parser)
    parser.add_argument("--compile", action="store_true",
                        help="also compile (or load from numba's cache) every numba kernel "
                             "for float32 and float64 and report the time and cache hits")


def _run_info(args: argparse.Namespace) -> int:
    import fastnn as fnn

    rows = [("fastnn", fnn.__version__),
            ("python", f"{platform.python_version()} ({platform.python_implementation()}, "
                       f"{sys.executable})")]
    rows += [(name, _version(name)) for name in INFO_PACKAGES]
    try:
        backend = fnn.backend_name()  # a bad FASTNN_BACKEND or FASTNN_NUM_THREADS: exit 2
    except BackendError as exc:
        if not isinstance(exc.__cause__, ImportError):
            raise
        backend = f"unavailable: {exc}"  # a known backend this install cannot import
    rows += [("backend", backend), ("FASTNN_BACKEND", os.environ.get("FASTNN_BACKEND") or
                                     "(not set)")]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if args.compile:
        from .kernels import load_backend
        result = load_backend("numba").warm_up()
        print(f"numba kernels: {result['signatures']} compiled signatures in "
              f"{result['seconds']:.2f} s ({result['cache_hits']} loaded from the cache, "
              f"{result['cache_misses']} compiled); cache {result['cache']}")
    print("threads:")
    for line in _pretty(fnn.thread_info(), indent=2):
        print(line)
    return 0


# -- fastnn check -------------------------------------------------------------------------

def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Run every op of the kernel contract on the numba backend and on the "
                          "numpy reference (MNIST shapes, odd shapes, non-contiguous inputs, "
                          "extreme logits, float32 and float64) and print one row per output: "
                          "max abs and rel difference, share of the derived tolerance used, "
                          "pass/fail. Exit status 1 if any row fails.")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of the random test data (default 0)")


def _run_check(args: argparse.Namespace) -> int:
    from . import checking
    return 0 if checking.run(seed=args.seed) else 1


# -- fastnn export ------------------------------------------------------------------------

def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Write a saved model (.npz) as ONNX, for ONNX Runtime and other "
                          "inference engines (see fastnn.onnx; needs the 'onnx' extra).")
    parser.add_argument("model", metavar="MODEL.npz", help="a model saved by fastnn")
    parser.add_argument("output", metavar="MODEL.onnx", help="where to write the ONNX file")
    parser.add_argument("--opset", type=_positive_int,
                        help="ONNX opset (default: fastnn.onnx.DEFAULT_OPSET)")
    parser.add_argument("--float32", action="store_true",
                        help="export a float64 model's weights and input as float32")


def _run_export(args: argparse.Namespace) -> int:
    import fastnn as fnn
    try:
        from . import onnx
    except ImportError as exc:
        raise UsageError(str(exc)) from None

    model = fnn.load(args.model)
    dtype = "float32" if args.float32 else None
    onnx.export(model, args.output, opset=args.opset, dtype=dtype)
    print(f"wrote {args.output}: {model!r}, opset {args.opset or onnx.DEFAULT_OPSET}, "
          f"{dtype or model.dtype.name}")
    return 0


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _pretty(value, indent: int) -> list[str]:
    """Nested dicts and lists as indented ``key: value`` lines."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines += _pretty(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {'(none)' if item in (None, [], {}) else item}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = _pretty(item, indent + 2)
                lines += [f"{pad}- {sub[0].lstrip()}", *sub[1:]]
            else:
                lines.append(f"{pad}- {item}")
    return lines


# -- the command table and main -----------------------------------------------------------

COMMANDS = (
    Command("train", "train a tutorial problem and report its metric",
            _add_train_arguments, _run_train),
    Command("info", "versions, backend and thread settings", _add_info_arguments, _run_info),
    Command("check", "the numba backend against the numpy reference, op by op",
            _add_check_arguments, _run_check),
    Command("export", "write a saved model as ONNX", _add_export_arguments, _run_export),
    Command("bench", "time training against the GEMM floor and peers; prediction; cold start",
            lambda parser: _benchmark().add_arguments(parser),
            lambda args: _benchmark().run(args)),
)


def _benchmark():
    """fastnn.benchmark, imported only when ``bench`` is used."""
    from . import benchmark
    return benchmark


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnn`` parser with one subparser per entry of COMMANDS."""
    parser = _Parser(prog="fastnn", description="fastnn: the tutorial neural networks, fast.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv=None) -> int:
    """Run ``fastnn`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "backend", None):
            import fastnn as fnn
            fnn.set_backend(args.backend)
        return args.run(args)
    except (UsageError, FastnnError, OSError) as exc:
        print(f"fastnn: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
