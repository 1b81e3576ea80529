"""Gallery: two moons learnt by tanh nets with a hidden layer of 1, 2, 3, 4, 5, 20 and 50
units, one decision boundary each, in one figure.

The classic tutorial experiment: one unit draws a straight line, two bend it, three are
enough for the moons, and with this much L2 the wider layers draw much the same curve.
Each net is 2-H-2, trained full-batch for 5000 epochs with SGD lr 1.0 and weight decay
1e-3, seed 0, on the same 200 points (noise 0.2).

    python examples/gallery_moons_hidden_sizes.py [PATH]

PATH defaults to docs/images/moons_hidden_sizes.png.
"""

import argparse

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

import fastnn as fnn
from fastnn.datasets import make_moons

HIDDEN = (1, 2, 3, 4, 5, 20, 50)
COLORS = ListedColormap(["#1f77b4", "#ff7f0e"])  # tab10's first two, as fastnn.plot uses

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", default="docs/images/moons_hidden_sizes.png")
args = parser.parse_args()

X, y = make_moons(200, noise=0.2, seed=0)
(x0, y0), (x1, y1) = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
xx, yy = np.meshgrid(np.linspace(x0, x1, 150), np.linspace(y0, y1, 150))
grid = np.column_stack([xx.ravel(), yy.ravel()])

fig = Figure(figsize=(13, 6.4), layout="constrained")
FigureCanvasAgg(fig)
axes = fig.subplots(2, 4).ravel()
for ax, hidden in zip(axes, HIDDEN):
    model = fnn.MLP([2, hidden, 2], activation="tanh", seed=0)
    model.fit(X, y, epochs=5000, batch_size=None, verbose=0,
              optimizer=fnn.SGD(lr=1.0, weight_decay=1e-3))
    accuracy = model.evaluate(X, y)["accuracy"]
    ax.contourf(xx, yy, model.predict(grid).reshape(xx.shape), levels=[-0.5, 0.5, 1.5],
                cmap=COLORS, alpha=0.35)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=COLORS, s=10, edgecolors="black", linewidths=0.3)
    ax.set(xticks=[], yticks=[], title=f"hidden layer of {hidden}: {accuracy:.1%}")
    print(f"hidden {hidden:>2}: training accuracy {accuracy:.4f}")
axes[-1].set_axis_off()
fig.suptitle("two moons, tanh 2-H-2, full-batch SGD with L2: decision boundary by hidden size")
fig.savefig(args.path, dpi=80)
print(f"wrote {args.path}")
