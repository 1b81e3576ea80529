"""Logic gates: AND, OR and NOT as logistic units; XOR needs a hidden layer.

A logistic unit (one linear layer, a sigmoid, binary cross-entropy) draws a single
straight line through the input plane, which is enough for AND, OR and NOT. XOR is not
linearly separable: the same unit gets at most 3 of the 4 rows right, while a network
with one hidden ReLU layer and a softmax output gets all 4.

    python examples/logic_gates.py            # FASTNN_BACKEND=numpy to use the reference
"""

import fastnn as fnn
from fastnn.datasets import logic_gate


def logistic_unit(X, y):
    """A logistic unit fitted by full-batch gradient descent with a little L2."""
    model = fnn.MLP([X.shape[1], 1], loss="sigmoid_bce", seed=0)
    model.fit(X, y, epochs=1000, batch_size=None,
              optimizer=fnn.SGD(lr=0.5, weight_decay=1e-4), verbose=0)
    return model


def show(name, model, X, y):
    """One line per truth-table row: inputs -> prediction (probability of 1)."""
    probability = model.predict_proba(X)[:, -1]  # sigmoid output, or softmax column 1
    accuracy = model.evaluate(X, y)["accuracy"]
    print(f"{name}: accuracy {accuracy:.2f}")
    for x, target, p in zip(X, y, probability):
        inputs = " ".join(str(int(v)) for v in x)
        print(f"    {inputs} -> {int(p > 0.5)}  (p = {p:.3f}, target {target})")


for gate in ("and", "or", "not"):
    X, y = logic_gate(gate)
    show(f"{gate.upper()} logistic unit", logistic_unit(X, y), X, y)

X, y = logic_gate("xor")
show("XOR logistic unit (cannot work)", logistic_unit(X, y), X, y)

model = fnn.MLP([2, 16, 2], activation="relu", seed=0)  # softmax over 2 classes
model.fit(X, y, epochs=2000, batch_size=None, optimizer=fnn.SGD(lr=0.1), verbose=0)
show("XOR with a hidden layer of 16 ReLUs", model, X, y)
