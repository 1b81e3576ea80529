"""Gallery: loss and accuracy per epoch of the MNIST MLP, training and validation.

Trains the 784-256-128-10 ReLU net with SGD (lr 0.05, momentum 0.9, batch 128) on the
first 10,000 training images for 8 epochs, validating on the first 2,000 test images:
a few seconds, where the full set takes about 7 s for 10 epochs (see performance).

    python examples/gallery_mnist_curves.py [PATH]     # default docs/images/mnist_curves.png
"""

import argparse

import fastnn as fnn
from fastnn.datasets import load_mnist
from fastnn.plot import plot_history

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", nargs="?", default="docs/images/mnist_curves.png")
args = parser.parse_args()

(X, y), (X_test, y_test) = load_mnist()
model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
history = model.fit(X[:10_000], y[:10_000], epochs=8, batch_size=128,
                    optimizer=fnn.SGD(lr=0.05, momentum=0.9),
                    validation_data=(X_test[:2_000], y_test[:2_000]), verbose=0)
plot_history(history, args.path)
print(f"validation accuracy {history['val_accuracy'][-1]:.4f}; wrote {args.path}")
