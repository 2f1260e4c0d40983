"""Post-hoc calibration (seed 001 §7): a map on a trained model's logits that
makes its reported probabilities match observed frequencies.

TemperatureScaler is temperature scaling (Guo et al., 2017): softmax(z / T)
with one scalar T fitted on held-out logits by minimising the negative
log-likelihood.  It never changes the predicted class, only the confidence.
Composed on a network it is one more differentiable map (a division), so
gradients flow through it as the seed describes.

expected_calibration_error measures the gap between confidence and accuracy
over equal-width confidence bins.
"""
import numpy as np

from neurocore import kernels as K
from neurocore._tensor import Tensor

__all__ = ["TemperatureScaler", "expected_calibration_error"]


def _array(x, name):
    a = x.data if isinstance(x, Tensor) else x
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a Tensor or numpy.ndarray, got {type(x).__name__}")
    return a


def _labels(labels, n, num_classes):
    y = _array(labels, "labels")
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integer class indices, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(f"labels hold class indices outside [0, {num_classes}): {np.unique(y[bad])[:10].tolist()}")
    return y.astype(np.int64)


def expected_calibration_error(probs, labels, n_bins=15):
    """ECE = sum_b |B_b|/N |accuracy(B_b) - confidence(B_b)|.

    The confidence of a sample is its largest probability, its prediction the
    argmax; bins split (0, 1] into n_bins equal intervals (lo, hi].

    Args:
        probs: (N, C) class probabilities (Tensor or ndarray).
        labels: (N,) integer class indices.
        n_bins: number of bins (>= 1).
    Returns: a float in [0, 1].
    """
    p = _array(probs, "probs")
    if p.ndim != 2 or p.dtype.kind != "f":
        raise ValueError(f"probs must be a 2-D float array (N, C), got shape {p.shape} and dtype {p.dtype}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    y = _labels(labels, p.shape[0], p.shape[1])
    if p.shape[0] == 0:
        return 0.0
    confidence = p.max(axis=1).astype(np.float64)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    # bin b holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 joins bin 0
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(bins, weights=confidence,
                                                                              minlength=n_bins)
    return float(np.abs(gap).sum() / p.shape[0])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class TemperatureScaler:
    """Temperature scaling: calibrated probabilities softmax(logits / T).

    Fit T on held-out (validation) logits and labels, then apply the scaler
    to new logits.  The fit minimises the mean NLL over beta = 1/T, where it
    is convex: NLL(beta) = mean(logsumexp(beta z) - beta z_y) has derivative
    mean(E_p[z] - z_y) and second derivative mean(Var_p[z]) >= 0.  A Newton
    iteration safeguarded by bisection on the sign of the derivative finds
    the minimum to machine precision in a handful of steps, with no learning
    rate to tune.

    Attributes (after fit): temperature; nll_before_, nll_after_,
    ece_before_, ece_after_ (expected_calibration_error with n_bins bins) on
    the fitting data.

    Example::

        scaler = TemperatureScaler().fit(val_logits, val_labels)
        probs = scaler.predict_proba(test_logits)
        print(scaler.ece_before_, "->", scaler.ece_after_)
    """

    def __init__(self, temperature=1.0):
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)):
            raise TypeError(f"temperature must be a real number, got {type(temperature).__name__}")
        if not np.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be > 0 and finite, got {temperature}")
        self.temperature = float(temperature)

    def fit(self, logits, labels, bounds=(1e-2, 1e2), n_bins=15, tol=1e-12, max_iter=100):
        """Fit the temperature on (N, C) logits and (N,) labels; returns self.

        bounds: the interval searched for T (the answer is clipped to it when
        the data want a more extreme temperature, e.g. separable data).
        """
        z = _array(logits, "logits")
        if z.ndim != 2 or z.dtype.kind != "f":
            raise ValueError(f"logits must be a 2-D float array (N, C), got shape {z.shape} and dtype {z.dtype}")
        if z.shape[0] == 0 or z.shape[1] == 0:
            raise ValueError(f"logits must hold at least one sample and one class, got shape {z.shape}")
        if not np.isfinite(z).all():
            raise ValueError("logits must be finite to fit a temperature")
        y = _labels(labels, z.shape[0], z.shape[1])
        t_min, t_max = (float(b) for b in bounds)
        if not (0 < t_min < t_max < np.inf):
            raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf, got {bounds}")
        z = z.astype(np.float64)
        z_y = z[np.arange(z.shape[0]), y]

        def nll(beta):
            loss, _ = K.cross_entropy_forward(np.ascontiguousarray(beta * z), y)
            return float(loss.mean())

        def derivatives(beta):
            p = _softmax(beta * z)
            mean_z = (p * z).sum(axis=1)
            var_z = (p * z * z).sum(axis=1) - mean_z ** 2
            return float((mean_z - z_y).mean()), float(np.maximum(var_z, 0).mean())

        lo, hi = 1.0 / t_max, 1.0 / t_min
        d_lo, _ = derivatives(lo)
        d_hi, _ = derivatives(hi)
        if d_lo >= 0:
            beta = lo
        elif d_hi <= 0:
            beta = hi
        else:
            beta = min(max(1.0 / self.temperature, lo), hi)
            for _ in range(max_iter):
                d, h = derivatives(beta)
                if d > 0:
                    hi = beta
                else:
                    lo = beta
                if abs(d) <= tol or hi - lo <= tol * hi:
                    break
                step = beta - d / h if h > 0 else None
                beta = step if step is not None and lo < step < hi else 0.5 * (lo + hi)
        self.nll_before_ = nll(1.0)
        self.ece_before_ = expected_calibration_error(_softmax(z), y, n_bins)
        self.temperature = 1.0 / beta
        self.nll_after_ = nll(beta)
        self.ece_after_ = expected_calibration_error(_softmax(beta * z), y, n_bins)
        return self

    def __call__(self, logits):
        """logits / T: a Tensor stays in the graph (gradients flow through the
        scaling); an ndarray gives an ndarray."""
        if isinstance(logits, Tensor):
            return logits * (1.0 / self.temperature)
        z = _array(logits, "logits")
        return z * z.dtype.type(1.0 / self.temperature) if z.dtype.kind == "f" else z / self.temperature

    transform = __call__

    def predict_proba(self, logits):
        """softmax(logits / T) over the last axis, as an ndarray."""
        z = np.asarray(self(_array(logits, "logits")))
        if z.ndim == 1:
            return _softmax(z[None, :])[0]
        return _softmax(z.reshape(-1, z.shape[-1])).reshape(z.shape)

    def __repr__(self):
        return f"TemperatureScaler(temperature={self.temperature:.6g})"
