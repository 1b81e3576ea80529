"""Iris: a 2-hidden-layer ReLU network and softmax regression, side by side.

Standardise with the training part's statistics only, train both models with the same
optimizer, and compare them on 30 held-out flowers (a stratified 20% split).

    python examples/iris.py
"""

import fastnn as fnn
from fastnn.datasets import IRIS_CLASSES, Standardizer, load_iris, train_test_split
from fastnn.metrics import confusion_matrix

X, y = load_iris()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=3,
                                                    stratify=True)
scaler = Standardizer().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

for name, sizes in (("MLP 4-10-10-3", [4, 10, 10, 3]), ("softmax regression 4-3", [4, 3])):
    model = fnn.MLP(sizes, activation="relu", seed=0)
    model.fit(X_train, y_train, epochs=300, batch_size=None, verbose=0,
              optimizer=fnn.SGD(lr=0.1, momentum=0.9, weight_decay=1e-2))
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    print(f"{name}: test accuracy {accuracy:.4f} ({round(accuracy * len(y_test))} of "
          f"{len(y_test)} flowers)")
    print("  confusion matrix (rows: true " + ", ".join(IRIS_CLASSES) + "):")
    for row in confusion_matrix(y_test, model.predict(X_test), n_classes=3):
        print("   ", " ".join(f"{count:3d}" for count in row))
