"""scikit-learn estimators on neurocore's kernels (the optional extra
``neurocore[sklearn]``).

``MLPClassifier`` and ``MLPRegressor`` take the constructor arguments of
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` with the same
meaning, and expose the same fitted attributes (``coefs_`` of shape
(n_in, n_out) per layer, ``intercepts_``, ``loss_curve_``, ``n_iter_``,
``t_``, ``best_loss_``, ``validation_scores_``, ``best_validation_score_``,
``classes_``, ``n_features_in_``, ``out_activation_``), so that they drop in
where scikit-learn's are used::

    from neurocore.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(256,), batch_size=64, max_iter=60).fit(X, y)

What is the same as scikit-learn: the initialisation (Glorot uniform drawn
from ``random_state`` in scikit-learn's order), the per-epoch shuffling, the
mini-batches, the losses (log-loss with a softmax output for several
classes, a logistic output unit for two classes or for multilabel targets,
half squared error for regression) and their L2 term ``alpha/2 ||W||² /
batch``, the stopping rule on ``tol`` / ``n_iter_no_change`` (training loss,
or validation score with ``early_stopping``), the learning-rate schedules of
``solver='sgd'``, and the warnings.

What differs: the computation runs on neurocore's fused kernels in the
dtype of X (float32 stays float32, anything else becomes float64); Adam is
PyTorch's form (ε added to √v̂ rather than to √v with the bias correction
folded into the step size, a difference of order ε); SGD's momentum buffer
holds gradients, not lr-scaled steps (identical while the learning rate is
constant); ``solver='lbfgs'`` is not available (``max_fun`` is accepted and
unused); sparse input is refused.
"""
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as e:                 # pragma: no cover - the extra is missing
    raise ImportError("neurocore.sklearn needs scikit-learn >= 1.6: pip install 'neurocore[sklearn]'") from e

from neurocore import _kernels
from neurocore import kernels as K

# The compiled one-call routes of nn.MLP's Linear chain and of the plain
# class-index cross-entropy (the autograd engine's fast paths: the same
# kernels as the public nc.kernels calls, without re-validating arrays that
# this module built itself).  Each returns None off its fast path, and the
# public kernels then run.
_CHAIN_FORWARD = getattr(_kernels, "_linear_chain_forward", None)
_CHAIN_BACKWARD = getattr(_kernels, "_linear_chain_backward", None)
_CE_PLAIN = getattr(_kernels, "_cross_entropy_plain", None)
_CE_PLAIN_BACKWARD = getattr(_kernels, "_cross_entropy_plain_backward", None)

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's activation names -> neurocore's
_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}


def _numeric(value, name, low, high=np.inf, low_open=False, integer=False):
    ok_type = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "an int" if integer else "a real number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if not (value > low if low_open else value >= low) or value > high or value != value:
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}], got {value!r}")
    return value


class _BaseMLP(BaseEstimator):
    """The training loop shared by the classifier and the regressor."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ---- checks ----------------------------------------------------------
    def _validate_hyperparameters(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = [s for s in sizes]
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got {sizes!r}") from None
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
                raise ValueError(f"hidden_layer_sizes must hold positive ints, got {self.hidden_layer_sizes!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in ("adam", "sgd"):
            raise ValueError(f"solver must be 'adam' or 'sgd' (neurocore has no 'lbfgs'), got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"learning_rate must be 'constant', 'invscaling' or 'adaptive', "
                             f"got {self.learning_rate!r}")
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _numeric(self.batch_size, "batch_size", 1, integer=True)
        _numeric(self.alpha, "alpha", 0.0)
        _numeric(self.learning_rate_init, "learning_rate_init", 0.0, low_open=True)
        _numeric(self.power_t, "power_t", 0.0)
        _numeric(self.max_iter, "max_iter", 1, integer=True)
        _numeric(self.tol, "tol", 0.0)
        _numeric(self.momentum, "momentum", 0.0, 1.0)
        _numeric(self.validation_fraction, "validation_fraction", 0.0, 1.0, low_open=True)
        if self.validation_fraction >= 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        _numeric(self.beta_1, "beta_1", 0.0)
        _numeric(self.beta_2, "beta_2", 0.0)
        if self.beta_1 >= 1.0 or self.beta_2 >= 1.0:
            raise ValueError(f"beta_1 and beta_2 must be in [0, 1), got {self.beta_1!r}, {self.beta_2!r}")
        _numeric(self.epsilon, "epsilon", 0.0, low_open=True)
        _numeric(self.n_iter_no_change, "n_iter_no_change", 1, integer=True)
        _numeric(self.max_fun, "max_fun", 1, integer=True)
        for name in ("shuffle", "verbose", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_, int, np.integer)):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        return [int(s) for s in sizes]

    def _validate_input(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, accept_sparse=False, multi_output=True,
                             dtype=(np.float64, np.float32), y_numeric=not isinstance(self, ClassifierMixin),
                             ensure_min_samples=2 if reset else 1)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)       # DataConversionWarning, as scikit-learn
        return np.ascontiguousarray(X), y

    # ---- the network -----------------------------------------------------
    def _initialize(self, layer_units, dtype):
        """Glorot-uniform weights in scikit-learn's order and formula:
        bound sqrt(6 / (fan_in + fan_out)), sqrt(2 / ...) for logistic."""
        self.n_iter_ = 0
        self.t_ = 0
        self._no_improvement_count = 0
        self.n_layers_ = len(layer_units)
        self.coefs_, self.intercepts_ = [], []
        factor = 2.0 if self.activation == "logistic" else 6.0
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            self.coefs_.append(coef.astype(dtype))
            self.intercepts_.append(intercept.astype(dtype))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.loss_curve_ = []

    def _parameters(self, dtype):
        """The layers' weights (n_out, n_in) and biases as C-contiguous arrays
        of dtype, from the (possibly user-edited) coefs_ and intercepts_;
        afterwards coefs_ / intercepts_ are views of them, which training
        updates in place (coefs_[i] is weights[i].T, as scikit-learn's
        (n_in, n_out) layout)."""
        weights = [np.ascontiguousarray(np.asarray(c).T, dtype=dtype) for c in self.coefs_]
        biases = [np.ascontiguousarray(b, dtype=dtype) for b in self.intercepts_]
        self.coefs_ = [w.T for w in weights]
        self.intercepts_ = biases
        return weights, biases

    def _forward_raw(self, X):
        """Output-layer pre-activations (n, n_outputs) of coefs_/intercepts_,
        on the raw kernels (no graph)."""
        act = _ACTIVATIONS[self.activation]
        h = X
        last = len(self.coefs_) - 1
        for i, (coef, intercept) in enumerate(zip(self.coefs_, self.intercepts_)):
            weight = np.ascontiguousarray(np.asarray(coef, X.dtype).T)
            bias = np.asarray(intercept, X.dtype)
            h = K.linear_forward(h, weight, bias, activation="identity" if i == last else act)
        return h

    # ---- training ----------------------------------------------------------
    def _fit(self, X, y, incremental=False):
        sizes = self._validate_hyperparameters()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, reset=first_pass)
        dtype = X.dtype
        Y = self._encode_targets(y, incremental, dtype)
        n_samples, n_features = X.shape
        self.n_outputs_ = self._n_units
        layer_units = [n_features] + sizes + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(layer_units, dtype)
        elif [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_] != layer_units:
            raise ValueError(f"the network's layer sizes {[self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]} "
                             f"do not match the data and hidden_layer_sizes {layer_units}")
        weights, biases = self._parameters(dtype)
        if not incremental or getattr(self, "_optimizer_state", None) is None:
            self._learning_rate = float(self.learning_rate_init)
            self._optimizer_state = self._new_optimizer_state(weights, biases)
        state = self._optimizer_state

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        X_val = y_val = None
        if early_stopping:
            # scikit-learn's split (same random draws): stratified for one output unit
            stratify = self._stratify_on(Y)
            train, val = train_test_split(np.arange(n_samples), random_state=self._random_state,
                                          test_size=self.validation_fraction, stratify=stratify)
            X, X_val, Y, y_val = X[train], X[val], Y[train], np.asarray(y)[val]
            n_samples = X.shape[0]
            if X_val.shape[0] < 2:
                raise ValueError(f"validation_fraction={self.validation_fraction} leaves {X_val.shape[0]} "
                                 f"validation sample(s); at least 2 are needed")
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be "
                              "clipped", UserWarning)
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        step = self._train_step(weights, biases, state)
        sample_idx = np.arange(n_samples, dtype=np.intp)
        self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                if self.shuffle:
                    # sklearn.utils.shuffle(sample_idx, random_state=...), the same
                    # draws, without its per-call parameter validation
                    order = np.arange(n_samples)
                    self._random_state.shuffle(order)
                    sample_idx = sample_idx[order]
                accumulated = 0.0
                for start in range(0, n_samples, batch_size):
                    idx = sample_idx[start:start + batch_size]
                    accumulated += step(X.take(idx, axis=0), Y.take(idx, axis=0)) * len(idx)
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_ = accumulated / n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(early_stopping, X_val, y_val)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._learning_rate = self.learning_rate_init / (self.t_ + 1) ** self.power_t
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if early_stopping else "Training loss"
                    if self.solver == "sgd" and self.learning_rate == "adaptive" and self._learning_rate > 1e-6:
                        self._learning_rate /= 5.0
                        if self.verbose:
                            print(f"Setting learning rate to {self._learning_rate:f}")
                        self._no_improvement_count = 0
                    else:
                        if self.verbose:
                            print(f"{what} did not improve more than tol={self.tol:f} for "
                                  f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                                  f"the optimization hasn't converged yet.", ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            for coef, best in zip(self.coefs_, self._best_coefs):
                coef[...] = best
            for intercept, best in zip(self.intercepts_, self._best_intercepts):
                intercept[...] = best
        return self

    def _new_optimizer_state(self, weights, biases):
        params = weights + biases
        if self.solver == "adam":
            return {"step": 0, "exp_avg": [np.zeros_like(p) for p in params],
                    "exp_avg_sq": [np.zeros_like(p) for p in params]}
        return {"momentum_buffer": [np.zeros_like(p) for p in params], "fresh": True}

    def _train_step(self, weights, biases, state):
        """step(xb, yb) -> the batch's loss as scikit-learn reports it: one
        forward and backward on the fused kernels (GEMM + bias + activation
        in one pass per layer; the loss and its gradient fused), then one
        multi-tensor optimizer call for the weights (with the L2 gradient
        alpha W / batch as weight decay) and one for the biases."""
        act = _ACTIVATIONS[self.activation]
        n_layers = len(weights)
        acts = [act] * (n_layers - 1) + ["identity"]
        alpha = float(self.alpha)
        loss_grad = self._loss_and_grad()
        report_scale = self._loss_report_scale()
        linear_forward, linear_backward = K.linear_forward, K.linear_backward
        adam = self.solver == "adam"
        beta1, beta2, eps = float(self.beta_1), float(self.beta_2), float(self.epsilon)
        momentum = float(self.momentum)
        nesterov = bool(self.nesterovs_momentum) and momentum > 0
        nw = n_layers
        if adam:
            w_state = (state["exp_avg"][:nw], state["exp_avg_sq"][:nw])
            b_state = (state["exp_avg"][nw:], state["exp_avg_sq"][nw:])
        else:
            w_bufs, b_bufs = state["momentum_buffer"][:nw], state["momentum_buffer"][nw:]

        params = [a for pair in zip(weights, biases) for a in pair]     # [W_1, b_1, W_2, ...]
        chain_acts = tuple(acts)
        needs = (False,) + (True,) * (2 * n_layers)

        def forward_backward(xb, yb, m):
            fwd = _CHAIN_FORWARD(xb, params, chain_acts, 0.01, True) if _CHAIN_FORWARD is not None else None
            if fwd is not None:
                out, inputs, saved = fwd
                loss, g = loss_grad(out, yb, m)
                grads = _CHAIN_BACKWARD(g, inputs, params, saved, chain_acts, 0.01, needs)
                if grads is not None:
                    return loss, grads[1::2], grads[2::2]
            # the public kernels, layer by layer
            inputs, preacts = [xb], []
            h = xb
            for i in range(n_layers):
                if acts[i] == "identity":
                    h = linear_forward(h, weights[i], biases[i])
                    preacts.append(None)
                else:
                    h, z = linear_forward(h, weights[i], biases[i], activation=acts[i], return_preact=True)
                    preacts.append(z)
                inputs.append(h)
            loss, g = loss_grad(h, yb, m)
            grad_w, grad_b = [None] * n_layers, [None] * n_layers
            for i in range(n_layers - 1, -1, -1):
                g, grad_w[i], grad_b[i] = linear_backward(g, inputs[i], weights[i], preacts[i], activation=acts[i],
                                                          need_input_grad=i > 0)
            return loss, grad_w, grad_b

        def step(xb, yb):
            m = xb.shape[0]
            loss, grad_w, grad_b = forward_backward(xb, yb, m)
            loss *= report_scale
            decay = alpha / m
            if alpha > 0:
                # scikit-learn's L2 term alpha/2 ||W||² / batch, with the weights
                # before this step's update
                loss += 0.5 * decay * sum(float(np.vdot(w, w)) for w in weights)
            lr = self._learning_rate
            if adam:
                state["step"] += 1
                t = state["step"]
                K.adam_step(weights, grad_w, w_state[0], w_state[1], t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                            weight_decay=decay)
                K.adam_step(biases, grad_b, b_state[0], b_state[1], t, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
            else:
                fresh = [state["fresh"]] * n_layers
                K.sgd_step(weights, grad_w, w_bufs, lr=lr, momentum=momentum, weight_decay=decay,
                           nesterov=nesterov, fresh=fresh)
                K.sgd_step(biases, grad_b, b_bufs, lr=lr, momentum=momentum, nesterov=nesterov, fresh=fresh)
                state["fresh"] = False
            return loss

        return step

    def _update_no_improvement_count(self, early_stopping, X_val, y_val):
        if early_stopping:
            self.validation_scores_.append(self._score(X_val, y_val))
            last = self.validation_scores_[-1]
            if last < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def fit(self, X, y):
        """Fit the model to X (n_samples, n_features) and y; returns self."""
        self._no_improvement_count = 0
        return self._fit(X, y, incremental=False)

    def _stratify_on(self, Y):
        return None

    def _loss_report_scale(self):
        return 1.0

    def _check_partial_fit_solver(self):
        if self.solver not in ("adam", "sgd"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers; "
                                 f"{self.solver!r} is not stochastic")

    def _predict_input(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=False, dtype=(np.float64, np.float32))
        return np.ascontiguousarray(X, dtype=self.coefs_[0].dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier with scikit-learn's interface,
    trained on neurocore's fused kernels (see the module docstring for what
    matches scikit-learn and what differs).

    Output: a softmax over the classes (log-loss) for three or more classes;
    one logistic unit for two classes and one per label for multilabel
    targets.  ``predict_proba`` gives (n_samples, n_classes) probabilities.
    """

    def _encode_targets(self, y, incremental, dtype):
        if getattr(self, "classes_", None) is None or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        self._multiclass = self._label_binarizer.y_type_ == "multiclass"
        self.out_activation_ = "softmax" if self._multiclass else "logistic"
        if self._multiclass:
            # class indices for the fused cross-entropy; one output unit per class
            self._n_units = Y.shape[1]
            return np.ascontiguousarray(Y.argmax(axis=1).astype(np.int64))
        self._n_units = Y.shape[1]
        return np.ascontiguousarray(Y, dtype=dtype)

    def _stratify_on(self, Y):
        return Y if self._n_units == 1 else None

    def _loss_and_grad(self):
        """(out, yb, m) -> (loss, d loss / d out): log-loss, mean over the batch."""
        if self._multiclass:
            def loss_grad(out, yb, m):
                # fused log-softmax + NLL, and its gradient softmax - onehot
                plain = _CE_PLAIN(out, yb, -100, True) if _CE_PLAIN is not None else None
                if plain is not None:
                    grad = _CE_PLAIN_BACKWARD(out, yb, plain[1], -100, 1.0 / m)
                    if grad is not None:
                        return float(plain[0]), grad
                rows, lse = K.cross_entropy_forward(out, yb)
                return float(rows.sum()) / m, K.cross_entropy_backward(out, yb, lse, grad_loss=1.0 / m)
            return loss_grad

        def loss_grad(out, yb, m):
            # logistic units: binary cross-entropy on the logits, summed over
            # labels, mean over the batch
            loss = float(K.bce_with_logits_forward(out, yb).sum()) / m
            return loss, K.bce_with_logits_backward(out, yb, grad_loss=1.0 / m)
        return loss_grad

    def fit(self, X, y):
        """Fit the model to X (n_samples, n_features) and the labels y; returns self."""
        return super().fit(X, y)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing from the current weights and
        optimizer state.  ``classes`` (every label) is required on the first
        call."""
        self._check_partial_fit_solver()
        if getattr(self, "classes_", None) is None:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={list(classes)}` is not the same as on the first call to "
                             f"partial_fit, which was {list(self.classes_)}")
        return self._fit(X, y, incremental=True)

    def _score(self, X, y):
        return accuracy_score(y, self.predict(X))

    def _raw_proba(self, X):
        out = self._forward_raw(X)
        if self._multiclass:
            return K.softmax(out)
        return K.sigmoid(out)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), in the order of classes_."""
        X = self._predict_input(X)
        p = self._raw_proba(X)
        if not self._multiclass and p.shape[1] == 1:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The predicted class (or label indicator rows, multilabel) of each row of X."""
        X = self._predict_input(X)
        p = self._raw_proba(X)
        if self._multiclass:
            return self.classes_[p.argmax(axis=1)]
        if self.n_outputs_ == 1:
            return self._label_binarizer.inverse_transform(p.ravel())
        return self._label_binarizer.inverse_transform(p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor with scikit-learn's interface
    (identity output, loss ½ mean squared error), trained on neurocore's
    fused kernels (see the module docstring)."""

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
                         alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
                         learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
                         shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
                         max_fun=max_fun)
        self.loss = loss

    def _validate_hyperparameters(self):
        if self.loss != "squared_error":
            raise ValueError(f"loss must be 'squared_error' (neurocore has no 'poisson'), got {self.loss!r}")
        return super()._validate_hyperparameters()

    def _encode_targets(self, y, incremental, dtype):
        self.out_activation_ = "identity"
        y = np.asarray(y)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._n_units = Y.shape[1]
        return np.ascontiguousarray(Y, dtype=dtype)

    def _loss_report_scale(self):
        # scikit-learn reports ½ of the mean over every element, but its
        # gradient is that of ½ sum over outputs, mean over rows
        return 1.0 / self.n_outputs_

    def _loss_and_grad(self):
        """(out, yb, m) -> (½ sum over outputs of the squared error, mean over
        the batch; its gradient (out - y) / m), scikit-learn's gradient."""
        def loss_grad(out, yb, m):
            diff = out - yb
            return 0.5 * float(np.vdot(diff, diff)) / m, diff * (1.0 / m)
        return loss_grad

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing from the current weights."""
        self._check_partial_fit_solver()
        return self._fit(X, y, incremental=True)

    def _score(self, X, y):
        return r2_score(y, self.predict(X))

    def predict(self, X):
        """Predictions (n_samples,) or (n_samples, n_outputs)."""
        X = self._predict_input(X)
        out = self._forward_raw(X)
        return out.ravel() if self._y_1d else out
