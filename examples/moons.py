"""Two moons: a tanh network with 3 hidden units, full-batch gradient descent with L2.

    python examples/moons.py [--plot moons.png]

With --plot (needs matplotlib) the decision boundary is drawn over the training points.
"""

import argparse
import sys

import fastnn as fnn
from fastnn.datasets import make_moons

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--plot", metavar="PATH", help="write the decision boundary as a PNG")
args = parser.parse_args()

X, y = make_moons(200, noise=0.2, seed=0)
model = fnn.MLP([2, 3, 2], activation="tanh", seed=0)
history = model.fit(X, y, epochs=5000, batch_size=None, verbose=0,
                    optimizer=fnn.SGD(lr=1.0, weight_decay=1e-3))
print(f"training accuracy {model.evaluate(X, y)['accuracy']:.4f} after {history.epochs} "
      f"epochs (loss {history['loss'][-1]:.4f})")

if args.plot:
    try:
        from fastnn.plot import plot_decision_boundary
        plot_decision_boundary(model, X, y, args.plot, title="two moons, tanh 2-3-2")
    except fnn.ConfigError as exc:  # matplotlib is not installed
        sys.exit(f"moons.py: {exc}")
    print(f"wrote {args.plot}")
