"""California housing: a sigmoid hidden layer, a linear output and mean squared error.

Inputs and the target are standardised with the training part's statistics; R² does not
depend on the target's scale, and inverse_transform turns predictions back into dollars.

    python examples/housing.py
"""

import numpy as np

import fastnn as fnn
from fastnn.datasets import Standardizer, load_california_housing, train_test_split

X, y = load_california_housing()  # y in units of $100,000
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
x_scaler = Standardizer().fit(X_train)
y_scaler = Standardizer().fit(y_train[:, None])
X_train, X_test = x_scaler.transform(X_train), x_scaler.transform(X_test)
t_train, t_test = y_scaler.transform(y_train[:, None]), y_scaler.transform(y_test[:, None])

model = fnn.MLP([8, 64, 1], activation="sigmoid", loss="mse", seed=0)
model.fit(X_train, t_train, epochs=100, batch_size=512, optimizer=fnn.Adam(lr=0.02),
          verbose=1)

price = y_scaler.inverse_transform(model.predict(X_test)[:, None])[:, 0] * 1e5
rmse = np.sqrt(np.mean((price - y_test * 1e5) ** 2))
print(f"test r2 {model.evaluate(X_test, t_test)['r2']:.4f}, RMSE ${rmse:,.0f}")
for predicted, actual in list(zip(price, y_test * 1e5))[:5]:
    print(f"  predicted ${predicted:>9,.0f}   actual ${actual:>9,.0f}")
