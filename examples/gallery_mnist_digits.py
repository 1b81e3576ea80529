"""Gallery: MNIST test digits titled with their true and predicted labels, mistakes in red.

A 784-256-128-10 ReLU net trained on the first 10,000 training images for 3 epochs
(seconds; see examples/mnist_mlp.py for the full run). The grid shows the first 16 test
digits, then the next 20 it gets wrong.

    python examples/gallery_mnist_digits.py [PATH]     # default docs/images/mnist_digits.png
"""

import argparse

import numpy as np

import fastnn as fnn
from fastnn.datasets import load_mnist
from fastnn.plot import plot_images

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", default="docs/images/mnist_digits.png")
args = parser.parse_args()

(X, y), (X_test, y_test) = load_mnist()
model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
model.fit(X[:10_000], y[:10_000], epochs=3, batch_size=128,
          optimizer=fnn.SGD(lr=0.05, momentum=0.9), verbose=0)
predicted = model.predict(X_test)
wrong = 16 + np.flatnonzero(predicted[16:] != y_test[16:])[:20]
pick = np.concatenate([np.arange(16), wrong])
plot_images(X_test[pick], y_test[pick], predicted[pick], args.path, n=len(pick))
print(f"test accuracy {np.mean(predicted == y_test):.4f}; wrote {args.path}")
