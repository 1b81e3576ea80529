"""Data sets and data handling: IDX reading, MNIST and Fashion-MNIST, any IDX directory,
California Housing, user CSV tables, toy sets, splits."""

from fastnn.datasets.housing import HOUSING_FEATURES, load_california_housing
from fastnn.datasets.idx import read_idx
from fastnn.datasets.idxdir import load_idx_dir
from fastnn.datasets.mnist import load_fashion_mnist, load_mnist
from fastnn.datasets.preprocess import Standardizer
from fastnn.datasets.split import train_test_split
from fastnn.datasets.table import Table, load_csv
from fastnn.datasets.toy import IRIS_CLASSES, IRIS_FEATURES, load_iris, logic_gate, make_moons

__all__ = [
    "read_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_csv",
    "Table",
    "load_california_housing",
    "HOUSING_FEATURES",
    "load_iris",
    "IRIS_FEATURES",
    "IRIS_CLASSES",
    "logic_gate",
    "make_moons",
    "train_test_split",
    "Standardizer",
]
