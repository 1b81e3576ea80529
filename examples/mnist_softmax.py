"""MNIST with softmax regression: one linear layer 784-10 and a softmax.

    python examples/mnist_softmax.py      # MNIST from FASTNN_DATA, the bundled copy or a download
"""

import fastnn as fnn
from fastnn.datasets import load_mnist

(X_train, y_train), (X_test, y_test) = load_mnist()  # float32 pixels in [0, 1]
model = fnn.MLP([784, 10], seed=0)
model.fit(X_train, y_train, epochs=10, batch_size=128,
          optimizer=fnn.SGD(lr=0.05, momentum=0.9), verbose=2)
print(f"test accuracy {model.evaluate(X_test, y_test)['accuracy']:.4f} "
      f"(backend {fnn.backend_name()})")
