"""Gallery: the confusion matrix of the MNIST MLP on the 10,000 test digits.

A 784-256-128-10 ReLU net trained on the first 10,000 training images for 3 epochs
(seconds); rows are the true digit, columns the predicted one, counts in each cell.

    python examples/gallery_confusion_matrix.py [PATH] # default docs/images/mnist_confusion.png
"""

import argparse

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

import fastnn as fnn
from fastnn.datasets import load_mnist
from fastnn.metrics import confusion_matrix

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", default="docs/images/mnist_confusion.png")
args = parser.parse_args()

(X, y), (X_test, y_test) = load_mnist()
model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
model.fit(X[:10_000], y[:10_000], epochs=3, batch_size=128,
          optimizer=fnn.SGD(lr=0.05, momentum=0.9), verbose=0)
counts = confusion_matrix(y_test, model.predict(X_test), n_classes=10)

fig = Figure(figsize=(6.4, 5.6), layout="constrained")
FigureCanvasAgg(fig)
ax = fig.subplots()
image = ax.imshow(np.maximum(counts, 1), cmap="Blues", norm=LogNorm(1, counts.max()))
for (true, pred), count in np.ndenumerate(counts):
    ax.text(pred, true, str(count), ha="center", va="center", fontsize=8,
            color="white" if count > 150 else "black")
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit",
       title=f"MNIST test set: {np.trace(counts)} of {counts.sum()} right")
fig.colorbar(image, ax=ax, label="count (log scale)")
fig.savefig(args.path, dpi=80)
print(f"wrote {args.path}")
