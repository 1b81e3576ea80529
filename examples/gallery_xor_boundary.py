"""Gallery: XOR's four points split by a 2-16-2 ReLU net (a logistic unit cannot do it).

    python examples/gallery_xor_boundary.py [PATH]     # default docs/images/xor_boundary.png
"""

import argparse

import fastnn as fnn
from fastnn.datasets import logic_gate
from fastnn.plot import plot_decision_boundary

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", default="docs/images/xor_boundary.png")
args = parser.parse_args()

X, y = logic_gate("xor")
model = fnn.MLP([2, 16, 2], activation="relu", seed=0)
model.fit(X, y, epochs=2000, batch_size=None, optimizer=fnn.SGD(lr=0.1), verbose=0)
accuracy = model.evaluate(X, y)["accuracy"]
plot_decision_boundary(model, X, y, args.path,
                       title=f"XOR, ReLU 2-16-2: accuracy {accuracy:.0%}")
print(f"wrote {args.path}")
