"""neurocore.sklearn: MLPClassifier / MLPRegressor against scikit-learn's
estimator checks and against scikit-learn's own MLPs on the same data."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from neurocore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _expected_failed_checks(estimator):
    return {}


# small networks with a larger step, so that the checks' training-score
# thresholds are met in a few hundred fast epochs
@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300,
                                        random_state=0),
                          MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300,
                                       random_state=0)],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.3, random_state=0)


def test_digits_accuracy_matches_sklearn(digits):
    """Same settings, both run every epoch (tol=0, large n_iter_no_change):
    test accuracy within 1 percentage point, loss curves close."""
    Xtr, Xte, ytr, yte = digits
    kw = dict(hidden_layer_sizes=(64,), batch_size=64, max_iter=20, tol=0.0, n_iter_no_change=10_000,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**kw).fit(Xtr, ytr)
        ref = SkMLPClassifier(**kw).fit(Xtr, ytr)
    assert ours.n_iter_ == ref.n_iter_ == 20
    assert abs(ours.score(Xte, yte) - ref.score(Xte, yte)) <= 0.01
    # the same initialisation, shuffles and loss: the curves agree closely
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=0.05)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in ref.coefs_] == [(64, 64), (64, 10)]
    assert ours.coefs_[0].dtype == np.float32
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    proba = ours.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(ours.predict(Xte), ours.classes_[proba.argmax(axis=1)])


def test_first_epoch_matches_sklearn_in_float64(digits):
    """With float64 data and one epoch of SGD (constant rate, no momentum),
    the update rules coincide exactly, so the weights agree to rounding."""
    Xtr, _, ytr, _ = digits
    X = Xtr.astype(np.float64)
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0, learning_rate_init=0.1, batch_size=50,
              max_iter=1, alpha=1e-3, random_state=3, activation="tanh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**kw).fit(X, ytr)
        ref = SkMLPClassifier(**kw).fit(X, ytr)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_regressor_matches_sklearn_sgd_step(activation):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))
    Y = np.c_[X[:, 0] * 2 - X[:, 1], np.sin(X[:, 2])]
    kw = dict(hidden_layer_sizes=(7, 6), solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=16,
              max_iter=2, alpha=1e-2, random_state=1, activation=activation, shuffle=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**kw).fit(X, Y)
        ref = SkMLPRegressor(**kw).fit(X, Y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9, atol=1e-12)


def test_binary_and_multilabel_use_logistic_units():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, learning_rate_init=0.1, batch_size=20,
              max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**kw).fit(X, y)
        ref = SkMLPClassifier(**kw).fit(X, y)
    assert ours.out_activation_ == ref.out_activation_ == "logistic" and ours.coefs_[-1].shape == (5, 1)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0].astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**kw).fit(X, Y)
        ref = SkMLPClassifier(**kw).fit(X, Y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_early_stopping_and_attributes(digits):
    """Early stopping splits, scores and stops as scikit-learn does (exactly,
    in float64 with plain SGD), and keeps the best epoch's weights."""
    Xtr, Xte, ytr, yte = digits
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0, learning_rate_init=0.05,
              early_stopping=True, n_iter_no_change=2, max_iter=100, random_state=0, tol=1e-3)
    clf = MLPClassifier(**kw).fit(Xtr.astype(np.float64), ytr)
    ref = SkMLPClassifier(**kw).fit(Xtr.astype(np.float64), ytr)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_ == ref.n_iter_ < 100
    np.testing.assert_allclose(clf.validation_scores_, ref.validation_scores_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    for a, b in zip(clf.coefs_ + clf.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    assert clf.score(Xte, yte) == ref.score(Xte, yte)
    plain = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        plain.fit(Xtr, ytr)
    assert plain.validation_scores_ is None and plain.best_loss_ == min(plain.loss_curve_)
    assert plain.n_features_in_ == 64 and plain.t_ == 5 * len(Xtr)


def test_partial_fit_and_warm_start(digits):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), random_state=0)
    ref = SkMLPClassifier(hidden_layer_sizes=(32,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xtr[:100], ytr[:100])
    for i in range(10):
        clf.partial_fit(Xtr, ytr, classes=np.arange(10))
        ref.partial_fit(Xtr, ytr, classes=np.arange(10))
    # as scikit-learn: n_iter_ counts the epochs of the last call, the
    # optimizer state carries over from call to call
    assert clf.n_iter_ == ref.n_iter_ == 1 and len(clf.loss_curve_) == 10
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-3)
    assert abs(clf.score(Xte, yte) - ref.score(Xte, yte)) <= 0.01
    warm = MLPClassifier(hidden_layer_sizes=(32,), max_iter=3, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(Xtr, ytr)
        first = [c.copy() for c in warm.coefs_]
        warm.fit(Xtr, ytr)
    assert warm.n_iter_ == 3 and len(warm.loss_curve_) == 6
    assert not np.allclose(first[0], warm.coefs_[0])
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(Xtr, ytr, classes=np.arange(10))
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(Xtr[ytr < 5], ytr[ytr < 5])


def test_edited_coefs_are_used():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    reg.coefs_ = [np.zeros((3, 4)), np.zeros((4, 1))]
    reg.intercepts_ = [np.zeros(4), np.array([1.5])]
    np.testing.assert_allclose(reg.predict(X), 1.5)


def test_bad_hyperparameters():
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    for kwargs, match in [(dict(solver="lbfgs"), "solver"), (dict(activation="gelu"), "activation"),
                          (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
                          (dict(learning_rate_init=0.0), "learning_rate_init"),
                          (dict(batch_size=0), "batch_size"), (dict(beta_1=1.0), "beta_1"),
                          (dict(validation_fraction=1.0), "validation_fraction"),
                          (dict(learning_rate="cosine"), "learning_rate")]:
        with pytest.raises(ValueError, match=match):
            MLPClassifier(**kwargs).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="poisson").fit(X, y.astype(float))


def test_public_kernel_route_gives_the_fast_route_results(monkeypatch):
    """The step's compiled one-call routes and its public-kernel fallback
    (taken when a fast path is unavailable) compute the same thing."""
    import neurocore.sklearn as ncsk
    rng = np.random.default_rng(4)
    X = rng.standard_normal((90, 6)).astype(np.float32)
    y = rng.integers(0, 4, 90)
    kw = dict(hidden_layer_sizes=(9, 5), batch_size=32, max_iter=3, random_state=0, alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = MLPClassifier(**kw).fit(X, y)
        for name in ("_CHAIN_FORWARD", "_CHAIN_BACKWARD", "_CE_PLAIN", "_CE_PLAIN_BACKWARD"):
            monkeypatch.setattr(ncsk, name, None)
        public = MLPClassifier(**kw).fit(X, y)
    for a, b in zip(fast.coefs_ + fast.intercepts_, public.coefs_ + public.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.loss_curve_, public.loss_curve_, rtol=1e-5)
