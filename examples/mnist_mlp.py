"""MNIST with a 784-256-128-10 ReLU network: 4 epochs of SGD with Nesterov momentum and a
one-cycle learning rate, minibatches of 128, to 98% test accuracy.

The recipe is ``fastnn train mnist``'s (fastnn/problems.py, chosen on held-out training
rows by bench/recipe_search.py): momentum 0.9, weight decay 5e-4, the learning rate rising
from 0.008 to 0.2 over the first 30% of the steps and falling to nearly 0 at the last.
Prints a line per epoch (training loss and accuracy, learning rate, test accuracy,
samples/s), then the final test accuracy; --save PATH writes the model, which fastnn.load
reads back.

    python examples/mnist_mlp.py [--epochs 4] [--save mnist_mlp.npz]
"""

import argparse

import fastnn as fnn
from fastnn.datasets import load_mnist

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--save", metavar="PATH", help="write the trained model here")
args = parser.parse_args()

(X_train, y_train), (X_test, y_test) = load_mnist()  # float32 pixels in [0, 1]
model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
schedule = fnn.schedules.OneCycle(max_lr=0.2)  # spans the fit's epochs
model.fit(X_train, y_train, epochs=args.epochs, batch_size=128,
          optimizer=fnn.SGD(lr=schedule, momentum=0.9, nesterov=True, weight_decay=5e-4),
          validation_data=(X_test, y_test), verbose=2)  # val_accuracy: test accuracy
print(f"test accuracy {model.evaluate(X_test, y_test)['accuracy']:.4f} "
      f"(backend {fnn.backend_name()})")

if args.save:
    model.save(args.save)
    reloaded = fnn.load(args.save)
    print(f"saved to {args.save}; reloaded model's test accuracy "
          f"{reloaded.evaluate(X_test, y_test)['accuracy']:.4f}")
