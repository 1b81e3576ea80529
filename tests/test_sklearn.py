"""fastnn.sklearn: scikit-learn's estimator checks, sklearn's own MLP as the reference for
the updates, and the ways users combine estimators (pipelines, searches, pickles)."""

import functools
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn import neural_network as sk_nn  # noqa: E402
from sklearn.base import clone, is_classifier  # noqa: E402
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
                  random_state=0),
     MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0),
     MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)],
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
    if kind == "counts":  # two Poisson targets whose log-mean is linear in X
        rates = np.exp(0.4 * X[:, :2] + [0.5, -0.5])
        return X, np.random.default_rng(0).poisson(rates).astype(float)
    return X, Y / 100 if kind == "multioutput" else Y[:, 0] / 100


def _max_diff(a, b):
    return max(np.abs(p - q).max() for p, q in zip(a.coefs_ + a.intercepts_,
                                                     b.coefs_ + b.intercepts_))


CASES = [("multiclass", sk_nn.MLPClassifier, MLPClassifier),
         ("binary", sk_nn.MLPClassifier, MLPClassifier),
         ("multilabel", sk_nn.MLPClassifier, MLPClassifier),
         ("regression", sk_nn.MLPRegressor, MLPRegressor),
         ("multioutput", sk_nn.MLPRegressor, MLPRegressor),
         ("counts", functools.partial(sk_nn.MLPRegressor, loss="poisson"),
          functools.partial(MLPRegressor, loss="poisson"))]


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("settings", [
    dict(solver="sgd", momentum=0.0, max_iter=4),
    dict(solver="sgd", momentum=0.9, max_iter=4, learning_rate="invscaling",
         learning_rate_init=0.1, alpha=0.0),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, max_iter=5,
         learning_rate="adaptive", tol=10.0, n_iter_no_change=1, alpha=0.0),
    dict(solver="sgd", momentum=0.9, max_iter=1),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, max_iter=1),
    dict(solver="sgd", momentum=0.9, max_iter=2, batch_size=96)],
    ids=["sgd", "invscaling", "adaptive", "nesterov", "momentum", "short-last-batch"])
def test_sgd_updates_are_sklearns(backend, kind, reference, ours, settings):
    """float64: sklearn's weights to rounding, alpha included (each step's weight decay is
    alpha over that batch's rows, so a short last batch (400 = 4 * 96 + 16) too), and
    momentum across the rate changes of 'invscaling' (every epoch) and 'adaptive' (a tol
    no epoch beats: the rate divided by 5 every other epoch); same init, same batch
    order. loss_curve_: to rounding without alpha (float64 sums of a few hundred terms:
    1e-12); with it, its L2 term takes the weights at the end of the epoch (sklearn: at
    each batch's start), 1e-4."""
    X, y = _data(kind)
    kw = {**dict(hidden_layer_sizes=(16,), random_state=0, batch_size=100,
                 learning_rate_init=0.01, alpha=0.01), **settings}
    ref = reference(**kw).fit(X, y)
    est = ours(dtype="float64", **kw).fit(X, y)
    assert _max_diff(ref, est) < 1e-12
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_,
                               rtol=1e-4 if kw["alpha"] else 1e-12)
    assert est.t_ == ref.t_ and est.n_iter_ == ref.n_iter_


@needs_continuing_optimizer
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_momentum_carries_across_epochs_like_sklearn(backend, solver):
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(16,), random_state=0, batch_size=100, max_iter=5,
              learning_rate_init=0.01, solver=solver)
    ref = sk_nn.MLPClassifier(**kw).fit(X, y)
    est = MLPClassifier(dtype="float64", **kw).fit(X, y)
    assert _max_diff(ref, est) < 1e-12


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_adam_updates_are_sklearns(backend, kind, reference, ours, weighted):
    """Adam at sklearn's defaults (alpha 1e-4; epsilon 1e-8 added to the uncorrected
    sqrt(v), fastnn's ``eps_hat``), batches of 96 (a short last one), with and without
    sample weights: float64, sklearn's weights to rounding (1e-12), as SGD's."""
    X, y = _data(kind)
    kw = dict(hidden_layer_sizes=(16,), random_state=0, batch_size=96, max_iter=3)
    w = _weights(len(X)) if weighted else None
    ref = reference(**kw).fit(X, y, sample_weight=w)
    est = ours(dtype="float64", **kw).fit(X, y, sample_weight=w)
    assert _max_diff(ref, est) < 1e-12
    assert est.n_iter_ == ref.n_iter_


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
def test_a_huge_learning_rate_is_one_clear_error(backend, kind, capsys):
    """No fastnn divergence warning or numpy overflow warning on the way, nothing
    printed, no chained exception: sklearn's ValueError for non-finite weights, its
    message exactly."""
    X, y = _data(kind)
    cls = MLPClassifier if kind == "multiclass" else MLPRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as info:
            cls(solver="sgd", learning_rate_init=1e10, max_iter=20, random_state=0).fit(X, y)
    assert str(info.value) == ("Solver produced non-finite parameter weights. The input "
                               "data may contain large values and need to be preprocessed.")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert capsys.readouterr() == ("", "")


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


# -- sample weights -------------------------------------------------------------------------
def _weights(n, seed=1):
    """Integer-like weights 0..3 times 0.7: zeros among them, batches of unequal weight."""
    return np.random.default_rng(seed).integers(0, 4, n) * 0.7


@pytest.mark.parametrize("order", [None, np.random.default_rng(2).permutation(103)],
                         ids=["natural", "shuffled"])
def test_epoch_weights_keep_each_batch_and_give_sklearns_epoch_loss(order):
    """Within a batch the rescaled weights are the given ones times one factor (the
    batch's weighted mean loss and gradient are unchanged) and sum to its row count, so
    fastnn's epoch loss sum(w' l) / sum(w') is sklearn's sum_b rows_b loss_b / n; the L2
    factor is sum_b rows_b / s_b / n. 103 rows in batches of 10: a short last batch, a
    batch of zero weights (its rescaled weights are zero, and so is its weight decay)."""
    from fastnn.sklearn import _epoch_weights, _step_decays
    n, batch = 103, 10
    w = _weights(n)
    rows = np.arange(n) if order is None else order
    w[rows[20:30]] = 0
    rescaled, per_batch, sums = _epoch_weights(w, order, n, batch)
    decays = _step_decays(0.5, sums)
    factor = 0.0
    for start in range(0, n, batch):
        b = rows[start:start + batch]
        assert sums[start // batch] == pytest.approx(w[b].sum(), rel=1e-14)
        if w[b].sum() == 0:
            assert decays[start // batch] == 0
            assert (rescaled[b] == 0).all()
            continue
        assert rescaled[b].sum() == pytest.approx(len(b), rel=1e-14)
        np.testing.assert_allclose(rescaled[b] / rescaled[b].sum(), w[b] / w[b].sum(),
                                   rtol=1e-14)
        factor += len(b) / w[b].sum()
        assert decays[start // batch] == pytest.approx(0.5 / w[b].sum(), rel=1e-14)
    assert per_batch == pytest.approx(factor / n, rel=1e-14)
    none, l2_factor, unweighted = _epoch_weights(None, order, n, batch)
    np.testing.assert_array_equal(unweighted, [10] * 10 + [3])
    assert (none, l2_factor) == (None, 11 / n)


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("settings", [
    dict(solver="sgd", momentum=0.9, max_iter=3, alpha=0.0, batch_size=100),
    dict(solver="sgd", momentum=0.9, max_iter=3, alpha=0.01, batch_size=96),
    dict(solver="sgd", momentum=0.0, max_iter=3, alpha=0.01, batch_size=400)],
    ids=["minibatch", "minibatch-alpha", "full-batch"])
def test_sample_weight_sgd_is_sklearns(backend, kind, reference, ours, settings):
    """Weighted batches as sklearn's: each batch's weighted mean loss and its gradient,
    loss_ the batches' losses averaged by rows. float64: the weights to rounding (1e-12),
    as unweighted; alpha too (each step's weight decay is alpha over its batch's weight,
    as sklearn divides it). loss_ to rounding without alpha; with it, its L2 term takes
    the weights at the end of the epoch (sklearn: at each batch's start), as unweighted:
    1e-4."""
    X, y = _data(kind)
    w = _weights(len(X))
    kw = dict(hidden_layer_sizes=(16,), random_state=0, learning_rate_init=0.01, **settings)
    ref = reference(**kw).fit(X, y, sample_weight=w)
    est = ours(**kw).fit(X, y, sample_weight=w)
    assert _max_diff(ref, est) < 1e-12
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_,
                               rtol=1e-4 if settings["alpha"] else 1e-12)
    assert est.n_iter_ == ref.n_iter_ and est.t_ == ref.t_


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
def test_sample_weight_lbfgs_is_sklearns(backend, kind, reference, ours):
    """The weighted objective (test_lbfgs_objective_is_sklearns) driven by scipy: 20
    iterations end at sklearn's weights (as unweighted: 1e-10)."""
    X, y = _data(kind)
    w = _weights(len(X))
    kw = dict(hidden_layer_sizes=(16,), random_state=0, solver="lbfgs", max_iter=20,
              alpha=1e-3)
    ref = reference(**kw).fit(X, y, sample_weight=w)
    est = ours(**kw).fit(X, y, sample_weight=w)
    assert _max_diff(ref, est) < 1e-10 and est.n_iter_ == ref.n_iter_
    assert est.loss_ == pytest.approx(ref.loss_, rel=1e-10)


def test_sample_weight_early_stopping_and_partial_fit_are_sklearns(backend):
    """The validation split carries the weights and the scores are weighted; partial_fit
    takes sample_weight (sklearn's signature: before classes)."""
    X, y = _data("multiclass")
    w = _weights(len(X))
    kw = dict(hidden_layer_sizes=(16,), early_stopping=True, max_iter=40, n_iter_no_change=3,
              solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=360,
              random_state=0)  # 360 training rows: one full batch
    ref = sk_nn.MLPClassifier(**kw).fit(X, y, sample_weight=w)
    est = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    assert est.n_iter_ == ref.n_iter_ and est.validation_scores_ == ref.validation_scores_
    assert _max_diff(ref, est) < 1e-12
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", batch_size=100, random_state=0,
              learning_rate_init=0.01, alpha=0.0)
    ref, est = sk_nn.MLPClassifier(**kw), MLPClassifier(**kw)
    for rows in (slice(0, 200), slice(200, 400), slice(0, 400)):
        ref.partial_fit(X[rows], y[rows], w[rows], classes=[0, 1, 2])
        est.partial_fit(X[rows], y[rows], w[rows], classes=[0, 1, 2])
    assert _max_diff(ref, est) < 1e-12


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("signed", [False, True], ids=["weights", "signed-weights"])
def test_sample_weight_sparse(backend, fmt, signed, monkeypatch):
    """Weighted chunks of sparse rows train as the dense rows (bit for bit), batches of
    negative weight among them too."""
    import scipy.sparse as sp

    import fastnn.sklearn as fsk
    monkeypatch.setattr(fsk, "CHUNK_ROWS", 64)
    X, y = _data("multiclass")
    X[np.abs(X) < 1] = 0
    w = _weights(len(X))
    if signed:  # unshuffled batches (and chunks) of 40 rows: the second weighs -41.3
        w[40:80] *= -1
    kw = dict(hidden_layer_sizes=(8,), solver="adam", max_iter=3, batch_size=40,
              random_state=0, shuffle=not signed)
    dense = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    est = MLPClassifier(**kw).fit(getattr(sp, f"{fmt}_matrix")(X), y, sample_weight=w)
    assert _max_diff(dense, est) == 0
    assert est.loss_curve_ == pytest.approx(dense.loss_curve_, rel=1e-14)


def test_sample_weight_errors_are_sklearns():
    X, y = _data("multiclass")
    for est in (MLPClassifier(max_iter=2), MLPClassifier(solver="lbfgs", max_iter=2)):
        with pytest.raises(ValueError, match="at least one non-zero"):
            est.fit(X, y, sample_weight=np.zeros(len(X)))
        with pytest.raises(ValueError, match=r"sample_weight.shape == \(399,\)"):
            est.fit(X, y, sample_weight=np.ones(len(X) - 1))


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
def test_negative_sample_weights_are_sklearns(backend, kind, reference, ours):
    """Weights of both signs, as sklearn takes them: a batch of negative weight among
    them (its loss and alpha's term divided by its negative weight), zero-weight rows
    too. float64: the weights to rounding (1e-12). lbfgs: its objective with such
    weights is test_lbfgs_objective_is_sklearns' (a fit diverges: the negative rows'
    losses are unbounded)."""
    X, y = _data(kind)
    w = _weights(len(X))  # 0, 0.7, 1.4, 2.1
    w[20:40] *= -1  # the second batch: negative weight
    w[5::9] *= -1  # a negative row in batches of positive weight
    kw = dict(hidden_layer_sizes=(16,), random_state=0, solver="sgd", alpha=0.01, max_iter=3,
              batch_size=20, shuffle=False, momentum=0.9, learning_rate_init=0.01)
    ref = reference(**kw).fit(X, y, sample_weight=w)
    est = ours(**kw).fit(X, y, sample_weight=w)
    assert _max_diff(ref, est) < 1e-12
    assert est.n_iter_ == ref.n_iter_


def test_poisson_predicts_the_mean(backend):
    """loss='poisson': the network's output is log mu, predictions exp of it (>= 0);
    sklearn's out_activation_ and loss_ (half Poisson deviance, with its offset)."""
    X, y = _data("counts")
    kw = dict(loss="poisson", hidden_layer_sizes=(8,), solver="lbfgs", random_state=0,
              max_iter=30)
    ref, est = sk_nn.MLPRegressor(**kw).fit(X, y), MLPRegressor(**kw).fit(X, y)
    assert est.out_activation_ == ref.out_activation_ == "exp"
    assert est.fastnn_model_.loss == "poisson"
    assert est.loss_ == pytest.approx(ref.loss_, rel=1e-10)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-9)
    assert (est.predict(X) > 0).all() and est.score(X, y) > 0.2


# -- lbfgs ------------------------------------------------------------------------------
def _sklearn_objective(ref, X, y, sample_weight=None):
    """sklearn's own lbfgs objective of a fitted ``ref``: x -> (loss, gradient)."""
    Y = ref._label_binarizer.transform(y) if hasattr(ref, "classes_") else y
    Y = Y.reshape(len(X), -1)
    units = [X.shape[1], *ref.hidden_layer_sizes, Y.shape[1]]
    activations = [X] + [None] * (len(units) - 1)
    deltas = [None] * (len(units) - 1)
    coef_grads = [np.empty((i, o)) for i, o in zip(units[:-1], units[1:])]
    intercept_grads = [np.empty(o) for o in units[1:]]
    return lambda x: ref._loss_grad_lbfgs(x, X, Y, sample_weight, activations, deltas,
                                          coef_grads, intercept_grads)


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("chunk_rows", [8192, 64], ids=["one-pass", "chunked"])
@pytest.mark.parametrize("weighted", [None, "weighted", "signed"])
def test_lbfgs_objective_is_sklearns(backend, kind, reference, ours, chunk_rows, weighted,
                                     monkeypatch):
    """The loss and gradient L-BFGS-B sees, at the same parameters, are sklearn's: its
    loss scale per loss (half squared error, log-loss summed over logistic outputs), its
    L2 term, its sample weights (zeros among them; of both signs too, rows 64..127 then
    summing to exactly zero: that chunk is taken in pieces of non-zero weight). float64,
    400 rows: each is a sum of a few hundred float64 terms (relative rounding well under
    1e-13); 1e-12. In chunks (64 rows) the same sums, regrouped."""
    import fastnn.sklearn as fsk
    monkeypatch.setattr(fsk, "CHUNK_ROWS", chunk_rows)
    X, y = _data(kind)
    kw = dict(hidden_layer_sizes=(16, 8), random_state=0, solver="lbfgs", max_iter=1,
              alpha=0.3, activation="tanh")
    ref, est = reference(**kw).fit(X, y), ours(**kw).fit(X, y)
    w = (np.random.default_rng(1).integers(0, 4, len(X)) * 0.7 if weighted else None)
    if weighted == "signed":
        w[::5] *= -1
        w[64:128] = np.tile([0.7, -0.7], 32)
    theirs = _sklearn_objective(ref, X, y, w)
    model = est.fastnn_model_
    Xd, yd = est._validate_input(X, y, incremental=True, reset=False)
    yd = yd.reshape(len(X), -1)
    ours_fn = fsk._SklearnObjective(est, model, Xd, yd, w, follow=True)
    x = np.random.default_rng(0).normal(0, 0.5, model.net.n_params)
    loss, grad = ours_fn(x)
    ref_loss, ref_grad = theirs(x)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-12 * np.abs(ref_grad).max())


@pytest.mark.parametrize("kind, reference, ours", CASES, ids=[c[0] for c in CASES])
def test_lbfgs_fit_is_sklearns(backend, kind, reference, ours):
    """Same start, same objective (above), same scipy call: 20 L-BFGS iterations end at
    sklearn's weights. The rounding differences (~1e-16) of each evaluation are carried
    along the path (measured: ~5e-15 after 20 iterations, ~5e-14 after 40); 1e-10."""
    X, y = _data(kind)
    kw = dict(hidden_layer_sizes=(16,), random_state=0, solver="lbfgs", max_iter=20,
              alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # both warn alike, below
        with pytest.raises(ConvergenceWarning) as theirs:
            reference(**kw).fit(X, y)
        with pytest.raises(ConvergenceWarning) as ours_warning:
            ours(**kw).fit(X, y)
    assert str(ours_warning.value) == str(theirs.value)
    ref, est = reference(**kw).fit(X, y), ours(**kw).fit(X, y)
    assert _max_diff(ref, est) < 1e-10
    assert est.loss_ == pytest.approx(ref.loss_, rel=1e-10)
    assert est.n_iter_ == ref.n_iter_ == 20 and est.t_ == ref.t_ == 0
    for name in ("loss_curve_", "best_loss_", "validation_scores_"):
        assert hasattr(est, name) == hasattr(ref, name) == False  # noqa: E712
    assert all(c.dtype == np.float64 for c in est.coefs_ + est.intercepts_)


def test_lbfgs_on_float32_rows_is_sklearns():
    """sklearn's lbfgs on float32 rows: a float32 start, which SciPy (>= 1.15) evaluates
    in float32, and float64 coefficients from scipy's result; ours the same. The float32
    rounding of each evaluation (6e-8 relative) is carried along the path as in float64
    (~50x over 20 iterations: ~3e-6 for weights of size ~1); 1e-4."""
    X, y = _data("multiclass")
    X = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(16,), random_state=0, solver="lbfgs", max_iter=20)
    ref, est = sk_nn.MLPClassifier(**kw).fit(X, y), MLPClassifier(**kw).fit(X, y)
    assert _max_diff(ref, est) < 1e-4
    assert [c.dtype for c in est.coefs_] == [c.dtype for c in ref.coefs_]
    assert est.predict_proba(X).dtype == ref.predict_proba(X).dtype


def test_lbfgs_convex_problem_reaches_sklearns_optimum():
    """No hidden layer, alpha > 0: a strictly convex objective with one minimum; both
    stop at it (same iteration count), the weights to rounding."""
    X, y = _data("multiclass")
    kw = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=1.0, max_iter=2000,
              random_state=0)
    ref, est = sk_nn.MLPClassifier(**kw).fit(X, y), MLPClassifier(**kw).fit(X, y)
    assert est.n_iter_ == ref.n_iter_ < 2000
    assert _max_diff(ref, est) < 1e-10
    assert est.score(X, y) == ref.score(X, y)


def test_lbfgs_max_fun_and_warm_start():
    X, y = _data("regression")
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_fun=7, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge") as ours_record:
        est = MLPRegressor(**kw).fit(X, y)
    with pytest.warns(ConvergenceWarning) as their_record:
        ref = sk_nn.MLPRegressor(**kw).fit(X, y)
    assert [str(w.message) for w in ours_record] == [str(w.message) for w in their_record]
    assert est.n_iter_ == ref.n_iter_ <= 7 and _max_diff(ref, est) < 1e-12
    est.set_params(warm_start=True, max_fun=15000, max_iter=5)
    ref.set_params(warm_start=True, max_fun=15000, max_iter=5)
    est.fit(X, y), ref.fit(X, y)  # continues from the current weights
    assert est.n_iter_ == ref.n_iter_ == 5 and _max_diff(ref, est) < 1e-12


def test_lbfgs_partial_fit_as_sklearns():
    """MLPClassifier has no partial_fit for lbfgs (sklearn's AttributeError, hasattr
    False); sklearn's MLPRegressor.partial_fit runs an lbfgs fit, and so does ours."""
    X, y = _data("multiclass")
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPClassifier(solver="sgd"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(AttributeError) as theirs:
        sk_nn.MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=[0, 1, 2])
    assert str(info.value.__cause__) == str(theirs.value.__cause__) == (
        "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic.")
    Xr, yr = _data("regression")
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0)
    ref, est = sk_nn.MLPRegressor(**kw), MLPRegressor(**kw)
    for _ in range(2):
        ref.partial_fit(Xr, yr), est.partial_fit(Xr, yr)
    assert est.n_iter_ == ref.n_iter_ and _max_diff(ref, est) < 1e-12


# -- dtypes ------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("train_dtype", [np.float32, np.float64])
def test_dtypes_are_sklearns(backend, solver, train_dtype):
    """The coefficients' dtype is sklearn's (the input's for sgd and adam, float64 for
    lbfgs), and so is every output's for float32 and float64 inputs to predict."""
    X, y = _data("multiclass", n=100)
    Xr, yr = _data("regression", n=100)
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, solver=solver, random_state=0)
    fits = [(sk_nn.MLPClassifier(**kw).fit(X.astype(train_dtype), y),
             MLPClassifier(**kw).fit(X.astype(train_dtype), y)),
            (sk_nn.MLPRegressor(**kw).fit(Xr.astype(train_dtype), yr),
             MLPRegressor(**kw).fit(Xr.astype(train_dtype), yr))]
    for ref, est in fits:
        assert [c.dtype for c in est.coefs_ + est.intercepts_] == [
            c.dtype for c in ref.coefs_ + ref.intercepts_]
        for dtype in (np.float32, np.float64):
            rows = (X if is_classifier(est) else Xr)[:10].astype(dtype)
            for method in ("predict_proba", "predict_log_proba", "predict"):
                if hasattr(ref, method):
                    assert getattr(est, method)(rows).dtype == getattr(ref, method)(rows).dtype


def test_float32_model_predicts_float64_rows_in_float64():
    """sklearn multiplies float64 rows by float32 coefficients in float64: so do we."""
    X, y = _data("multiclass")
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(
        X.astype(np.float32), y)
    ref = sk_nn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X, y)
    ref.coefs_, ref.intercepts_ = est.coefs_, est.intercepts_
    # float64 sums of the same products; sklearn's softmax vs fastnn's: a few ulps
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), rtol=1e-13,
                               atol=1e-15)
    np.testing.assert_allclose(est.predict_proba(X.astype(np.float32)),
                               ref.predict_proba(X.astype(np.float32)), rtol=2e-6,
                               atol=1e-7)  # float32: a few float32 ulps


# -- sparse input ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_sparse_trains_as_dense(backend, fmt, solver, monkeypatch):
    """Chunks of a whole number of batches, densified in the epoch's order, train the
    same batches as the dense input (bit for bit); 64-row chunks (one 40-row batch each)
    make several per epoch.
    lbfgs sums chunked losses and gradients (a regrouped sum: 1e-12)."""
    import scipy.sparse as sp

    import fastnn.sklearn as fsk
    monkeypatch.setattr(fsk, "CHUNK_ROWS", 64)
    X, y = _data("multiclass")
    X[np.abs(X) < 1] = 0
    kw = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=3, batch_size=40,
              random_state=0, alpha=0.01)
    sparse = getattr(sp, f"{fmt}_matrix")(X)
    dense, est = MLPClassifier(**kw).fit(X, y), MLPClassifier(**kw).fit(sparse, y)
    assert _max_diff(dense, est) < (1e-12 if solver == "lbfgs" else 1e-300)
    np.testing.assert_array_equal(est.predict_proba(sparse), est.predict_proba(X))
    ref = sk_nn.MLPClassifier(**kw).fit(sparse, y)
    assert _max_diff(ref, est) < 1e-12


def test_sparse_is_never_densified_whole(peak_bytes):
    """A sparse X whose dense copy would take 160 MB trains and predicts in a small part
    of that: chunks of CHUNK_ROWS rows (8192 x 200 float64: 13 MB; prediction also
    allocates fastnn's input buffer of a chunk's size)."""
    import scipy.sparse as sp
    X = sp.random(100_000, 200, density=0.01, format="csr", random_state=0)
    y = (np.asarray(X.sum(axis=1)).ravel() > 1).astype(int)
    dense_bytes = 100_000 * 200 * 8
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    est.fit(X[:1000], y[:1000])  # the kernels loaded (numba's own memory) before measuring
    assert peak_bytes(est.fit, X, y) < dense_bytes / 4
    assert peak_bytes(est.predict_proba, X) < dense_bytes / 4


# -- failures and refusals ----------------------------------------------------------------
def test_refusals():
    X, y = _data("multiclass")
    with pytest.raises(ValueError, match="'loss' parameter"):
        MLPRegressor(loss="huber").fit(*_data("regression"))
    with pytest.raises(ValueError, match="momentum"):
        MLPClassifier(solver="sgd", momentum=1.0).fit(X, y)
    with pytest.raises(ValueError, match="'solver' parameter"):
        MLPClassifier(solver="newton").fit(X, y)


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
