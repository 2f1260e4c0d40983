"""The seeds' worked examples as golden tests, built from nc.nn.Linear,
nc.functional and backward().

Each seed number is compared at the precision the seed prints it (half a
unit of its last digit).  Where a seed number is wrong (lost minus signs and
the like), the test asserts the correct mathematics and says so.
"""
import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F


def assert_seed(got, printed, decimals):
    """got agrees with a seed value printed with `decimals` digits (rounded
    or truncated: the seeds do both, e.g. sigmoid(7) = 0.9990889 as 0.999088)."""
    got = np.asarray(got.data if isinstance(got, nc.Tensor) else got).item()
    assert abs(got - printed) <= 10.0 ** -decimals + 1e-12, (got, printed)


def scalar_linear(weight, bias):
    layer = nc.nn.Linear(1, 1, dtype=np.float64)
    layer.weight.data[...] = weight
    layer.bias.data[...] = bias
    return layer


# ---- seed 000 §2.8, Tables 2.4-2.7: ReLU -> tanh -> sigmoid, L = 1/2 (y - y_hat)^2 ----
@pytest.fixture
def three_layer():
    # Table 2.4 prints b1 as "=1" and b3 as "=0.3": lost minus signs.  §2.8.3
    # gives (w1, b1) = (1.5, -1) and (w3, b3) = (2, -0.3), and only these
    # reproduce the table's z1 = 2.0 and z3 = 1.300998.
    l1, l2, l3 = scalar_linear(1.5, -1.0), scalar_linear(0.5, 0.1), scalar_linear(2.0, -0.3)
    x = nc.tensor(np.array([[2.0]]))
    y = nc.tensor(np.array([[1.0]]))
    z1 = l1(x)
    a1 = F.relu(z1)
    z2 = l2(a1)
    a2 = F.tanh(z2)
    z3 = l3(a2)
    y_hat = F.sigmoid(z3)
    # 1/2 (y - y_hat)^2 for one output = 1/2 of the mean squared error
    loss = 0.5 * F.mse_loss(y_hat, y)
    return dict(layers=(l1, l2, l3), z1=z1, a1=a1, z2=z2, a2=a2, z3=z3, y_hat=y_hat, loss=loss)


def test_seed000_table_2_4_forward(three_layer):
    n = three_layer
    assert_seed(n["z1"], 2.0, 6)
    assert_seed(n["a1"], 2.0, 6)
    assert_seed(n["z2"], 1.1, 6)
    assert_seed(n["a2"], 0.800499, 6)
    assert_seed(n["z3"], 1.300998, 6)
    assert_seed(n["y_hat"], 0.786003, 6)
    assert_seed(n["loss"], 0.022897, 6)


def test_seed000_tables_2_5_to_2_7_backward(three_layer):
    n = three_layer
    l1, l2, l3 = n["layers"]
    inter = nc.grad(n["loss"], [n["y_hat"], n["z3"], n["a2"], n["z2"], n["a1"], n["z1"]], retain_graph=True)
    d_yhat, d_z3, d_a2, d_z2, d_a1, d_z1 = inter
    n["loss"].backward()
    # Every gradient below is printed in the seed without its minus sign
    # ("=0.213997" for -0.213997, step 16, and so on down to step 38): with
    # y_hat < y = 1 the loss falls as y_hat rises, so each is negative.
    # Table 2.5 (layer 3, sigmoid)
    assert_seed(d_yhat, -0.213997, 6)                                   # step 16
    assert_seed(n["y_hat"] * (1 - n["y_hat"]), 0.168202, 6)            # step 17
    assert_seed(d_z3, -0.035995, 6)                                     # step 18
    assert_seed(l3.weight.grad, -0.028814, 6)                           # step 20
    assert_seed(l3.bias.grad, -0.035995, 6)                             # step 22
    assert_seed(d_a2, -0.071990, 6)                                     # step 24
    # Table 2.6 (layer 2, tanh)
    assert_seed(1 - n["a2"] * n["a2"], 0.359201, 6)                     # step 25
    assert_seed(d_z2, -0.025859, 6)                                     # step 26
    assert_seed(l2.weight.grad, -0.051718, 6)                           # step 28
    assert_seed(l2.bias.grad, -0.025859, 6)                             # step 30
    assert_seed(d_a1, -0.012929, 6)                                     # step 32
    # Table 2.7 (layer 1, ReLU: the gate 1[z1 > 0] = 1, step 33)
    assert_seed(d_z1, -0.012929, 6)                                     # step 34
    assert_seed(l1.weight.grad, -0.025859, 6)                           # step 36
    assert_seed(l1.bias.grad, -0.012929, 6)                             # step 38


def test_seed000_table_2_1_single_neuron():
    # Table 2.1 (forward) is right: z = 3*2 + 1 = 7, y_hat = sigmoid(7),
    # L = 1/2 (1 - y_hat)^2.  Tables 2.2/2.3 (its "backward") belong to another
    # network (they use w2 = 4 and a hidden a1 = 0.999088, and print
    # dL/dy_hat = "=0.119587", which is not y_hat - y = -0.000912): we check
    # the correct chain rule instead, dL/dz = (y_hat - y) y_hat (1 - y_hat).
    layer = scalar_linear(3.0, 1.0)
    z = layer(nc.tensor(np.array([[2.0]])))
    y_hat = F.sigmoid(z)
    loss = 0.5 * F.mse_loss(y_hat, nc.tensor(np.array([[1.0]])))
    assert_seed(z, 7.0, 6)
    assert_seed(y_hat, 0.999088, 6)
    # The seed's 4.16e-7 squares the rounded 1 - 0.999088 = 0.000912; the exact
    # 1/2 (1 - sigmoid(7))^2 is 4.150e-7.
    assert abs(loss.item() - 4.150e-7) <= 0.0005e-7
    loss.backward()
    s = 1 / (1 + np.exp(-7.0))
    dz = (s - 1) * s * (1 - s)
    np.testing.assert_allclose(layer.weight.grad.data, [[2 * dz]], rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.data, [dz], rtol=1e-12)


def test_seed000_section_2_10_gradient_accumulation():
    # v3 = x^2 feeds v5 = 2 v3 and v6 = v3 + 1; f = v5 v6: df/dv3 = 18 + 20 = 38
    x = nc.tensor(np.array(3.0), requires_grad=True)
    v3 = x * x
    v5, v6 = 2 * v3, v3 + 1
    f = v5 * v6
    assert (v3.item(), v5.item(), v6.item(), f.item()) == (9.0, 18.0, 10.0, 180.0)
    (d_v3,) = nc.grad(f, [v3], retain_graph=True)
    assert d_v3.item() == 38.0
    f.backward()
    assert x.grad.item() == 38.0 * 6.0


# ---- seed 004: 3-4-2 network, sigmoid hidden layer, softmax output, L = 1/2 sum (a - y)^2 ----
W1 = [[0.2, -0.3, 0.5], [0.7, 0.1, -0.2], [-0.5, 0.4, 0.3], [0.1, -0.4, 0.2]]
B1 = [0.1, -0.2, 0.05, 0.0]
W2 = [[0.3, -0.6, 0.2, 0.1], [-0.2, 0.1, 0.4, -0.5]]
B2 = [0.05, -0.1]


@pytest.fixture
def seed004():
    layer1, layer2 = nc.nn.Linear(3, 4, dtype=np.float64), nc.nn.Linear(4, 2, dtype=np.float64)
    layer1.weight.data[...] = W1
    layer1.bias.data[...] = B1
    layer2.weight.data[...] = W2
    layer2.bias.data[...] = B2
    x = nc.tensor(np.array([[1.0, 0.5, -1.0]]))
    y = nc.tensor(np.array([[1.0, 0.0]]))
    z1 = layer1(x)
    a1 = F.sigmoid(z1)
    z2 = layer2(a1)
    a2 = F.softmax(z2, dim=1)
    # L = 1/2 sum_j (a_j - y_j)^2: with two outputs, exactly the mean squared error
    loss = F.mse_loss(a2, y)
    np.testing.assert_allclose(loss.item(), 0.5 * F.mse_loss(a2, y, reduction="sum").item(), rtol=1e-15)
    return dict(layers=(layer1, layer2), z1=z1, a1=a1, z2=z2, a2=a2, loss=loss)


def test_seed004_forward(seed004):
    n = seed004
    for got, want in zip(n["z1"].data[0], (-0.35, 0.75, -0.55, -0.30)):
        assert_seed(got, want, 2)
    for got, want in zip(n["a1"].data[0], (0.413382, 0.679179, 0.365864, 0.425557)):  # §3.3.1
        assert_seed(got, want, 6)
    for got, want in zip(n["z2"].data[0], (-0.1178, -0.1812)):
        assert_seed(got, want, 4)
    for got, want in zip(np.exp(n["z2"].data[0]), (0.889, 0.834)):
        assert_seed(got, want, 3)
    for got, want in zip(n["a2"].data[0], (0.515852, 0.484148)):  # §3.2.2
        assert_seed(got, want, 6)
    assert_seed(n["loss"], 0.2344, 4)


def test_seed004_backward(seed004):
    n = seed004
    layer1, layer2 = n["layers"]
    d_a2, d_z2, d_a1, d_z1 = nc.grad(n["loss"], [n["a2"], n["z2"], n["a1"], n["z1"]], retain_graph=True)
    # §3.2.2: dL/da2 = a2 - y
    for got, want in zip(d_a2.data[0], (-0.484148, 0.484148)):
        assert_seed(got, want, 6)
    # §3.2.3: the softmax Jacobian, entries +-a1 a2 = +-0.249749
    a2 = n["a2"].data[0]
    jac = np.stack([nc.grad(n["a2"][0, m], [n["z2"]], retain_graph=True)[0].data[0] for m in range(2)])
    for got, want in zip(jac.ravel(), (0.249749, -0.249749, -0.249749, 0.249749)):
        assert_seed(got, want, 6)
    np.testing.assert_allclose(jac, np.diag(a2) - np.outer(a2, a2), rtol=1e-12)
    # δ2 = (-0.241831, 0.241831)
    for got, want in zip(d_z2.data[0], (-0.241831, 0.241831)):
        assert_seed(got, want, 6)
    # §3.3.1: a1_j (1 - a1_j).  Three seed values are wrong; its own δ1 below
    # is computed from the right ones:
    #  - j = 2 prints 0.217877: 0.679179 (1 - 0.679179) = 0.217895, and
    #    0.217895 * 0.169282 = 0.036886 = the seed's δ1_2 (0.217877 gives 0.036883);
    #  - j = 3 prints 0.2326: 0.365864 (1 - 0.365864) = 0.232008, and
    #    0.232008 * 0.048366 = 0.011221 = the seed's δ1_3 (0.2326 gives 0.011250);
    #  - j = 4 prints 0.244596: 0.425557 (1 - 0.425557) = 0.244458, and
    #    0.244458 * -0.145099 = -0.035471 = the seed's δ1_4 (0.244596 gives -0.035491).
    for got, want in zip(d_a1.data[0], (-0.120915, 0.169282, 0.048366, -0.145099)):  # sum_i w_ij δ2_i
        assert_seed(got, want, 6)
    a1 = n["a1"].data[0]
    for got, want in zip(a1 * (1 - a1), (0.242497, 0.217895, 0.232008, 0.244458)):
        assert_seed(got, want, 6)
    delta1 = (-0.029322, 0.036886, 0.011221, -0.035471)
    for got, want in zip(d_z1.data[0], delta1):
        assert_seed(got, want, 6)

    n["loss"].backward()
    # §3.2.4: all 8 weight and 2 bias gradients of layer 2
    grad_w2 = [[-0.099969, -0.164246, -0.088477, -0.102913], [0.099969, 0.164246, 0.088477, 0.102913]]
    for got, want in zip(layer2.weight.grad.data.ravel(), np.ravel(grad_w2)):
        assert_seed(got, want, 6)
    for got, want in zip(layer2.bias.grad.data, (-0.241831, 0.241831)):
        assert_seed(got, want, 6)
    # §3.3.2: all 12 weight and 4 bias gradients of layer 1
    grad_w1 = [[-0.029322, -0.014661, 0.029322], [0.036886, 0.018443, -0.036886],
               [0.011221, 0.005611, -0.011221], [-0.035471, -0.017735, 0.035471]]
    for got, want in zip(layer1.weight.grad.data.ravel(), np.ravel(grad_w1)):
        assert_seed(got, want, 6)
    for got, want in zip(layer1.bias.grad.data, delta1):
        assert_seed(got, want, 6)

    # §3.4: one gradient-descent step with eta = 0.1
    lr = 0.1
    if hasattr(nc.optim, "SGD"):
        nc.optim.SGD(list(layer1.parameters()) + list(layer2.parameters()), lr=lr).step()
    else:  # the plain update of §3.4, w <- w - eta dL/dw
        for p in list(layer1.parameters()) + list(layer2.parameters()):
            p.data -= lr * p.grad.data
    assert_seed(layer2.weight.data[0, 0], 0.309997, 6)
    assert_seed(layer1.bias.data[0], 0.102932, 6)
    # the loss falls after the step ("in the direction of reducing the current loss = 0.2344")
    a2 = F.softmax(layer2(F.sigmoid(layer1(nc.tensor(np.array([[1.0, 0.5, -1.0]]))))), dim=1)
    assert F.mse_loss(a2, nc.tensor(np.array([[1.0, 0.0]]))).item() < 0.2344
