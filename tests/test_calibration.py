"""Post-hoc calibration (seed 001 §7): temperature scaling recovers a known
miscalibration and lowers the expected calibration error."""
import numpy as np
import pytest

import neurocore as nc
from neurocore.calibration import TemperatureScaler, expected_calibration_error


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def calibrated_data(rng, n=20000, classes=5):
    """Logits whose softmax is the true label distribution (calibrated by construction)."""
    z = 1.5 * rng.standard_normal((n, classes))
    p = softmax(z)
    labels = (p.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1)
    return z, labels


@pytest.mark.parametrize("true_t", [0.5, 3.0])
def test_temperature_recovers_known_miscalibration(rng, true_t):
    z, labels = calibrated_data(rng)
    # a model whose logits are T times the calibrated ones: overconfident for
    # T = 3, underconfident for T = 0.5; the fitted temperature must be T
    model_logits = z * true_t
    scaler = TemperatureScaler().fit(model_logits, labels)
    assert abs(scaler.temperature - true_t) < 0.06 * true_t
    assert scaler.ece_after_ < scaler.ece_before_
    assert scaler.ece_after_ < 0.015
    assert scaler.nll_after_ < scaler.nll_before_
    # the fit is the minimiser of the NLL: compare with a fine grid
    grid = np.linspace(0.98, 1.02, 41) * scaler.temperature
    nll = [-np.log(softmax(model_logits / t)[np.arange(len(labels)), labels]).mean() for t in grid]
    assert abs(grid[int(np.argmin(nll))] - scaler.temperature) <= (grid[1] - grid[0])
    np.testing.assert_allclose(scaler.nll_after_, min(nll), rtol=1e-9)
    # ECE reported after the fit is that of the scaled probabilities
    np.testing.assert_allclose(scaler.ece_after_,
                               expected_calibration_error(scaler.predict_proba(model_logits), labels))
    # scaling never changes the predicted class
    assert (scaler.predict_proba(model_logits).argmax(1) == model_logits.argmax(1)).all()


def test_temperature_scaling_is_differentiable():
    scaler = TemperatureScaler(2.0)
    z = nc.tensor(np.array([[1.0, 2.0, 0.5]]), requires_grad=True)
    loss = nc.functional.cross_entropy(scaler(z), np.array([1]))
    loss.backward()
    p = softmax(np.array([[0.5, 1.0, 0.25]]))
    np.testing.assert_allclose(z.grad.data, (p - np.eye(3)[[1]]) / 2.0, rtol=1e-12)
    out = scaler(np.array([[2.0, 4.0]], np.float32))
    assert out.dtype == np.float32 and np.array_equal(out, [[1.0, 2.0]])


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 1, 1, 0])
    # n_bins = 2: (0, 0.5] is empty, (0.5, 1] holds all: accuracy 2/4,
    # confidence (0.9 + 0.8 + 0.7 + 0.55)/4 = 0.7375
    assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(0.2375, abs=1e-15)
    # n_bins = 10: bins (0.5,0.6]: {0.55 wrong}, (0.6,0.7]: {0.7 right}, (0.7,0.8]: {0.8 wrong},
    # (0.8,0.9]: {0.9 right}
    want = (0.55 + abs(1 - 0.7) + 0.8 + abs(1 - 0.9)) / 4
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(want, abs=1e-15)
    assert expected_calibration_error(np.zeros((0, 3)), np.zeros(0, np.int64)) == 0.0


def test_separable_data_hits_the_bound():
    z = np.array([[5.0, -5.0], [-5.0, 5.0]])
    scaler = TemperatureScaler().fit(z, np.array([0, 1]), bounds=(0.05, 20))
    assert scaler.temperature == pytest.approx(0.05)


def test_bad_input():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"labels hold class indices outside \[0, 2\): \[5\]"):
        TemperatureScaler().fit(z, np.array([0, 1, 5]))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        TemperatureScaler().fit(z, np.array([0, 1]))
    with pytest.raises(TypeError, match="labels must hold integer"):
        TemperatureScaler().fit(z, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="logits must be a 2-D"):
        TemperatureScaler().fit(np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        TemperatureScaler(0.0)
    with pytest.raises(ValueError, match="n_bins must be"):
        expected_calibration_error(z + 0.5, np.array([0, 1, 1]), n_bins=0)
    with pytest.raises(ValueError, match="bounds"):
        TemperatureScaler().fit(z, np.array([0, 1, 1]), bounds=(2.0, 1.0))
