"""scikit-learn peer: MLPClassifier(solver="sgd"), one ``partial_fit`` per epoch.

``partial_fit``, not a warm-start ``fit``: with ``warm_start=True, max_iter=1`` each ``fit``
keeps the weights but builds a new SGDOptimizer (zero velocities) every call, while
``partial_fit`` keeps the optimizer; each call is one epoch over the data, reshuffled
(``shuffle=True``) in its own minibatches. The BLAS threads are limited to T with
threadpoolctl; everything else is scikit-learn's default (its initialisation included).
See ``fastnn.peers`` for the arguments and output.
"""

from __future__ import annotations

import warnings

import numpy as np

from fastnn import peers
from fastnn.benchmark.workload import MNIST_SIZES


def main(argv=None) -> None:
    args = peers.parse_args("sklearn", argv)
    try:
        import sklearn
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        peers.skip("sklearn", f"{exc.name or 'scikit-learn'} is not installed")
    if args.schedule != "constant":
        peers.skip("sklearn", "MLPClassifier cannot follow a per-step learning-rate "
                              "schedule (its SGD takes constant, invscaling or adaptive)")
    (X, y), (X_test, y_test) = peers.load_data(args.samples)
    model = MLPClassifier(hidden_layer_sizes=MNIST_SIZES[1:-1], activation="relu",
                          solver="sgd", learning_rate="constant",
                          learning_rate_init=args.lr, momentum=args.momentum,
                          nesterovs_momentum=False, batch_size=args.batch, alpha=0.0,
                          max_iter=1, warm_start=True, shuffle=True,
                          random_state=args.seed)
    classes = np.arange(MNIST_SIZES[-1])

    def epoch(_):
        model.partial_fit(X, y, classes=classes)

    def accuracy():
        return model.score(X_test, y_test)

    with threadpool_limits(limits=args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if args.serve:
            peers.serve("sklearn", sklearn.__version__, args, len(X), epoch, accuracy,
                        peers.blas_info())
            return
        seconds = peers.timed_epochs(args.epochs, epoch)
        score = accuracy()
    peers.report("sklearn", sklearn.__version__, args, len(X), seconds, score,
                 dtype=str(model.coefs_[0].dtype))


if __name__ == "__main__":
    main()
