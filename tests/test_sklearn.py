"""fastnn.sklearn: scikit-learn's estimator checks, sklearn's own MLP as the reference for
the updates, and the ways users combine estimators (pipelines, searches, pickles)."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn import neural_network as sk_nn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn as fnn  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Checks that cannot pass, {check name: reason}; the README lists them. Empty: every check
# of scikit-learn 1.9 passes for the instances below (sample_weight checks are not run
# because fit takes no sample_weight).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

CONTINUES_OPTIMIZER = hasattr(fnn.Sequential, "reset_optimizer")
needs_continuing_optimizer = pytest.mark.skipif(
    not CONTINUES_OPTIMIZER, reason="needs fit() to continue the optimizer state across "
                                    "calls (Sequential.reset_optimizer)")


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@parametrize_with_checks(
    [MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01,
                   random_state=0),
     MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01,
                  random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- the same updates as sklearn.neural_network ------------------------------------------
def _data(kind, n=400):
    X, y = make_classification(n, 10, n_informative=5, n_classes=3, random_state=0)
    if kind == "multiclass":
        return X, y
    if kind == "binary":
        return X, np.where(y == 1, "yes", "no")
    if kind == "multilabel":
        return X, np.stack([y == 0, y == 1, y != 1], axis=1).astype(int)
    X, Y = make_regression(n, 5, n_targets=2, random_state=0)
    return X, Y / 100 if kind == "multioutput" else Y[:, 0] / 100


def _max_diff(a, b):
    return max(np.abs(p - q).max() for p, q in zip(a.coefs_ + a.intercepts_,
                                                     b.coefs_ + b.intercepts_))


CASES = [("multiclass", sk_nn.MLPClassifier, MLPClassifier),
         ("binary", sk_nn.MLPClassifier, MLPClassifier),
         ("multilabel", sk_nn.MLPClassifier, MLPClassifier),
         ("regression", sk_nn.MLPRegressor, MLPRegressor),
         ("multioutput", sk_nn.MLPRegressor, MLPRegressor)]


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("settings", [
    dict(solver="sgd", momentum=0.0, max_iter=4),
    dict(solver="sgd", momentum=0.0, max_iter=4, learning_rate="invscaling",
         learning_rate_init=0.1),
    dict(solver="sgd", momentum=0.9, max_iter=1),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, max_iter=1)],
    ids=["sgd", "invscaling", "nesterov", "momentum"])
def test_sgd_updates_are_sklearns(backend, kind, reference, ours, settings):
    """float64, batches dividing the rows: sklearn's weights to rounding, alpha included
    (its mapping to fastnn's weight_decay is exact then); same init, same batch order."""
    X, y = _data(kind)
    kw = {**dict(hidden_layer_sizes=(16,), random_state=0, batch_size=100,
                 learning_rate_init=0.01, alpha=0.01), **settings}
    ref = reference(**kw).fit(X, y)
    est = ours(dtype="float64", **kw).fit(X, y)
    assert _max_diff(ref, est) < 1e-12
    # the loss adds alpha's L2 term with end-of-epoch weights (sklearn: each batch's)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-4)
    assert est.t_ == ref.t_ and est.n_iter_ == ref.n_iter_


@needs_continuing_optimizer
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_momentum_carries_across_epochs_like_sklearn(backend, solver):
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(16,), random_state=0, batch_size=100, max_iter=5,
              learning_rate_init=0.01, solver=solver)
    ref = sk_nn.MLPClassifier(**kw).fit(X, y)
    est = MLPClassifier(dtype="float64", **kw).fit(X, y)
    # Adam: sklearn adds epsilon to the uncorrected sqrt(v), fastnn to the corrected one
    assert _max_diff(ref, est) < (1e-12 if solver == "sgd" else 1e-4)


def test_adam_first_epoch_close_to_sklearn(backend):
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(16,), random_state=0, batch_size=100, max_iter=1,
              learning_rate_init=0.01)
    assert _max_diff(sk_nn.MLPClassifier(**kw).fit(X, y),
                     MLPClassifier(dtype="float64", **kw).fit(X, y)) < 1e-4


def test_stopping_rules_are_sklearns():
    """A tol no epoch can beat: both stop after 1 + n_iter_no_change + 1 epochs."""
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(8,), random_state=0, tol=10.0, n_iter_no_change=3,
              max_iter=50)
    ref = sk_nn.MLPClassifier(**kw).fit(X, y)
    est = MLPClassifier(**kw).fit(X, y)
    assert est.n_iter_ == ref.n_iter_ == 5
    assert len(est.loss_curve_) == 5 and est.best_loss_ == min(est.loss_curve_)


def test_adaptive_learning_rate_divides_by_5():
    X, y = _data("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive",
                        tol=10.0, n_iter_no_change=2, max_iter=9, random_state=0).fit(X, y)
    assert est.n_iter_ == 9  # adaptive lowers the rate instead of stopping
    assert est._learning_rate == pytest.approx(0.001 / 5**2)


def test_convergence_warning_at_max_iter():
    X, y = _data("multiclass")
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\)"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_a_huge_learning_rate_is_one_clear_error(backend, kind):
    """No fastnn divergence warning or numpy overflow warning on the way: the ValueError
    sklearn's estimator raises for non-finite weights, and nothing else."""
    X, y = _data(kind)
    cls = MLPClassifier if kind == "multiclass" else MLPRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="non-finite parameter weights") as info:
            cls(solver="sgd", learning_rate_init=1e10, max_iter=20, random_state=0).fit(X, y)
    assert not isinstance(info.value, Warning)


def test_early_stopping_is_sklearns(backend):
    """Same validation split, scores, stopping epoch and restored best weights."""
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(16,), early_stopping=True, max_iter=40, n_iter_no_change=3,
              solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=90,
              random_state=0)  # 360 training rows: 4 whole batches
    ref = sk_nn.MLPClassifier(**kw).fit(X, y)
    est = MLPClassifier(dtype="float64", **kw).fit(X, y)
    assert est.n_iter_ == ref.n_iter_ < 40
    assert est.validation_scores_ == ref.validation_scores_
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_loss_ is None and _max_diff(ref, est) < 1e-12
    with pytest.raises(ValueError, match="early_stopping"):
        est.partial_fit(X, y)


# -- labels, inputs, outputs -----------------------------------------------------------
@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([-7, 3, 40])])
def test_any_labels(backend, labels):
    X, y = _data("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0,
                        learning_rate_init=0.01).fit(X, labels[y])
    np.testing.assert_array_equal(est.classes_, labels)
    assert set(est.predict(X)) <= set(labels)
    assert est.score(X, labels[y]) > 0.7
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(est.predict(X), labels[proba.argmax(axis=1)])
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba))
    assert est.out_activation_ == "softmax" and est.fastnn_model_.loss == "softmax_cross_entropy"


def test_binary_uses_one_logistic_output():
    X, y = _data("binary")
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    assert est.n_outputs_ == 1 and est.out_activation_ == "logistic"
    assert [c.shape for c in est.coefs_] == [(10, 8), (8, 1)]
    assert est.fastnn_model_.loss == "sigmoid_bce"
    assert est.predict_proba(X).shape == (len(X), 2)


def test_attributes_match_sklearns_shapes():
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(7, 5), max_iter=3, random_state=0)
    ref, est = sk_nn.MLPClassifier(**kw).fit(X, y), MLPClassifier(**kw).fit(X, y)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_",
                 "n_features_in_"):
        assert getattr(est, name) == getattr(ref, name), name
    assert [c.shape for c in est.coefs_] == [c.shape for c in ref.coefs_]
    assert [b.shape for b in est.intercepts_] == [b.shape for b in ref.intercepts_]
    assert len(est.loss_curve_) == 3 and est.loss_ == est.loss_curve_[-1]
    assert isinstance(est.fastnn_model_, fnn.Sequential)
    np.testing.assert_allclose(est.predict_proba(X), est.fastnn_model_.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
    est.coefs_[0][...] = 0  # copies: the model is untouched
    assert np.any(est.fastnn_model_.net.W[0] != 0)


def test_multilabel(backend):
    X, Y = _data("multilabel")
    est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0,
                        learning_rate_init=0.01).fit(X, Y)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 3
    assert est.predict(X).shape == Y.shape and est.predict_proba(X).shape == Y.shape
    np.testing.assert_array_equal(est.predict(X), est.predict_proba(X) > 0.5)
    assert est.score(X, Y) > 0.5  # subset accuracy


def test_multioutput_regression(backend):
    X, Y = _data("multioutput")
    est = MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0,
                       learning_rate_init=0.01).fit(X, Y)
    assert est.n_outputs_ == 2 and est.out_activation_ == "identity"
    pred = est.predict(X)
    assert pred.shape == Y.shape and pred.dtype == np.float64
    assert est.score(X, Y) > 0.8


def test_dataframe_sets_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data("multiclass")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(df, y)
    np.testing.assert_array_equal(est.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_array_equal(est.predict(df), est.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"f0": "other"}))


# -- continuing: warm_start and partial_fit ---------------------------------------------
def test_warm_start_continues(backend):
    X, y = _data("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, warm_start=True, random_state=0)
    est.fit(X, y)
    before = est.fastnn_model_
    first_loss = est.loss_curve_[-1]
    est.fit(X, y)
    assert est.fastnn_model_ is before and est.t_ == 6 * len(X) and est.n_iter_ == 3
    assert len(est.loss_curve_) == 6 and est.loss_curve_[-1] < first_loss
    with pytest.raises(ValueError, match="same classes"):
        est.fit(X, np.where(y == 2, 5, y))
    cold = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    cold.fit(X, y)  # without warm_start, a second fit starts over
    assert len(cold.loss_curve_) == 3


def test_partial_fit(backend):
    X, y = _data("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:200], y[:200], classes=[0, 1, 2])
    for _ in range(5):
        est.partial_fit(X, y)
    assert est.n_iter_ == 1 and est.t_ == 200 + 5 * len(X)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, np.full(len(y), 9))
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        reg.partial_fit(*_data("regression"))
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 3


# -- refusals --------------------------------------------------------------------------
def test_lbfgs_refused_with_the_alternatives():
    X, y = _data("multiclass")
    with pytest.raises(ValueError, match=r"lbfgs.*not supported.*solver='adam'.*solver='sgd'"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson").fit(*_data("regression"))
    with pytest.raises(ValueError, match="momentum"):
        MLPClassifier(solver="sgd", momentum=1.0).fit(X, y)


def test_import_error_names_the_extra():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import fastnn.sklearn\n"
            "except ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "fastnn.sklearn needs the 'sklearn' extra: pip install 'fastnn[sklearn]'"


# -- backends ------------------------------------------------------------------------------
@pytest.mark.parametrize("explicit", [False, True])
def test_backend_none_follows_the_backend_in_force(backend, explicit, monkeypatch):
    seen = []
    fit = fnn.training.fit  # what each of the estimator's epochs calls

    def spy(*args, **kwargs):
        seen.append(fnn.backend_name())
        return fit(*args, **kwargs)

    monkeypatch.setattr(fnn.training, "fit", spy)
    other = "numpy" if backend != "numpy" else "numba"
    X, y = _data("multiclass")
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                  backend=other if explicit else None).fit(X, y)
    assert seen == [other if explicit else backend] * 2


# -- composition with sklearn's tools ----------------------------------------------------
def test_pipeline_and_cross_val_score(backend):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,),
                                                         max_iter=200, random_state=0,
                                                         learning_rate_init=0.01))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85


def test_clone_and_pickle(backend):
    X, y = _data("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float64")
    fresh = clone(est)
    assert fresh.get_params() == est.get_params() and not hasattr(fresh, "coefs_")
    est.fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(again.fastnn_model_.params, est.fastnn_model_.params)
    assert again.fastnn_model_ is not est.fastnn_model_
    est.partial_fit(X, y)  # the optimizer state travels too: both continue alike
    again.partial_fit(X, y)
    assert again.t_ == est.t_
    np.testing.assert_array_equal(again.fastnn_model_.params, est.fastnn_model_.params)


def test_grid_search_in_two_processes_equals_one():
    """joblib's loky workers are new processes: ``backend`` pins fastnn's backend there
    (None would mean the worker's default, not a ``use_backend`` block around the search)."""
    X, y = _data("multiclass", n=200)
    est = MLPClassifier(max_iter=5, random_state=0, backend="numpy")
    grid = {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-1]}
    two = GridSearchCV(est, grid, cv=2, n_jobs=2).fit(X, y)
    one = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X, y)
    assert two.best_params_ == one.best_params_
    np.testing.assert_array_equal(two.cv_results_["mean_test_score"],
                                  one.cv_results_["mean_test_score"])
