"""NumPy float64 references of the optimizer updates, written from the
documented algorithms (PyTorch's docs for SGD, Adagrad, RMSprop, Adam, AdamW;
You et al. 2019 for LAMB; seed 000 §1.3 for the variants).  One tensor, one
step; `state` is a dict updated in place, `t` the step count after the step.
"""
import numpy as np


def sgd(p, g, state, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
        maximize=False):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g.copy()
        else:
            state["momentum_buffer"] = momentum * state["momentum_buffer"] + (1 - dampening) * g
        b = state["momentum_buffer"]
        g = g + momentum * b if nesterov else b
    return p - lr * g


def adagrad(p, g, state, t, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False,
            eps_inside_sqrt=False, initial_accumulator_value=0.0):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = state.setdefault("sum", np.full_like(p, initial_accumulator_value)) + g * g
    state["sum"] = s
    std = np.sqrt(s + eps) if eps_inside_sqrt else np.sqrt(s) + eps
    return p - clr * g / std


def rmsprop(p, g, state, t, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
            centered=False, maximize=False, eps_inside_sqrt=False):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    sq = alpha * state.get("square_avg", np.zeros_like(p)) + (1 - alpha) * g * g
    state["square_avg"] = sq
    avg = sq
    if centered:
        ga = alpha * state.get("grad_avg", np.zeros_like(p)) + (1 - alpha) * g
        state["grad_avg"] = ga
        avg = sq - ga * ga
    denom = np.sqrt(avg + eps) if eps_inside_sqrt else np.sqrt(avg) + eps
    if momentum:
        b = momentum * state.get("momentum_buffer", np.zeros_like(p)) + g / denom
        state["momentum_buffer"] = b
        return p - lr * b
    return p - lr * g / denom


def adam(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
         maximize=False, decoupled=False, eps_inside_sqrt=False):
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    m = b1 * state.get("exp_avg", np.zeros_like(p)) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - b2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    if amsgrad:
        v = np.maximum(state.get("max_exp_avg_sq", np.zeros_like(p)), v)
        state["max_exp_avg_sq"] = v
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    denom = np.sqrt(v_hat + eps) if eps_inside_sqrt else np.sqrt(v_hat) + eps
    return p - lr * m_hat / denom


def lamb(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, maximize=False,
         eps_inside_sqrt=False):
    b1, b2 = betas
    g = -g if maximize else g
    m = b1 * state.get("exp_avg", np.zeros_like(p)) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - b2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    denom = np.sqrt(v_hat + eps) if eps_inside_sqrt else np.sqrt(v_hat) + eps
    r = m_hat / denom + weight_decay * p
    pn, rn = np.linalg.norm(p), np.linalg.norm(r)
    trust = pn / rn if pn > 0 and rn > 0 else 1.0
    return p - lr * trust * r
