"""Gallery: the decision boundary of the two-moons tanh net (2-3-2), over its 200 points.

    python examples/gallery_moons_boundary.py [PATH]   # default docs/images/moons_boundary.png
"""

import argparse

import fastnn as fnn
from fastnn.datasets import make_moons
from fastnn.plot import plot_decision_boundary

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", default="docs/images/moons_boundary.png")
args = parser.parse_args()

X, y = make_moons(200, noise=0.2, seed=0)
model = fnn.MLP([2, 3, 2], activation="tanh", seed=0)
model.fit(X, y, epochs=5000, batch_size=None, optimizer=fnn.SGD(lr=1.0, weight_decay=1e-3),
          verbose=0)
accuracy = model.evaluate(X, y)["accuracy"]
plot_decision_boundary(model, X, y, args.path,
                       title=f"two moons, tanh 2-3-2: training accuracy {accuracy:.1%}")
print(f"wrote {args.path}")
