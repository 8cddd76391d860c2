import io
import math

import numpy as np
import pytest
import torch

from reelkit.optim import KaFiStO


def reference_steps(x0, grad_fn, loss_fn, steps, a, p0, q, r, lr, beta=0.9, adaptive_q=True, losses_sq=None):
    """The update and prediction equations in numpy, for one scalar weight (n = 1)."""
    x, v = float(x0), 0.0
    P = np.array([[p0[0], p0[1]], [p0[1], p0[2]]], dtype=np.float64)
    F = np.array([[1.0, 1.0], [0.0, a]])
    qx, qv = q
    R = 1.0 if r is None else r
    average = 0.0

    def predict(x, v, P, qx):
        if adaptive_q:
            qx = beta * qx + (1 - beta) * abs(average - x)
        x, v = x + v, a * v
        return x, v, F @ P @ F.T + np.diag([qx, qv]), qx

    x, v, P, qx = predict(x, v, P, qx)
    trajectory = []
    for _ in range(steps):
        loss, g = loss_fn(x), grad_fn(x)
        if r is None:
            R = beta * R + (1 - beta) * loss * loss
        s = P[0, 0] * g * g + R
        x = x - P[0, 0] / s * lr * loss * g
        v = v - P[1, 0] / s * lr * loss * g
        average = beta * average + (1 - beta) * x
        P = P - (g * g / s) * np.outer(P[:, 0], P[:, 0])
        x, v, P, qx = predict(x, v, P, qx)
        trajectory.append(x)
    return np.array(trajectory)


@pytest.mark.parametrize("decay", [0.0, 0.9])
def test_matches_numpy_reference_on_a_quadratic(decay):
    loss_fn = lambda x: 0.5 * (x - 3.0) ** 2 + 0.25  # noqa: E731
    grad_fn = lambda x: x - 3.0  # noqa: E731
    expected = reference_steps(-1.0, grad_fn, loss_fn, 25, decay, (0.1, 0.0, 0.1), (1e-2, 1e-2), None, 1.0)

    x = torch.nn.Parameter(torch.tensor([-1.0], dtype=torch.float64))
    optimizer = KaFiStO([x], velocity_decay=decay)
    got = []
    for _ in range(25):
        def closure():
            optimizer.zero_grad()
            loss = (0.5 * (x - 3.0) ** 2 + 0.25).sum()
            loss.backward()
            return loss
        optimizer.step(closure)
        got.append(x.item())
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert abs(got[-1] - 3.0) < abs(-1.0 - 3.0) / 2


def test_zero_velocity_decay_is_plain_kafisto():
    """With a = 0 the filter is the vanilla one with P_hat = P + q_x + q_v and no velocity state."""
    loss_fn = lambda x: 0.5 * (x - 3.0) ** 2 + 0.25  # noqa: E731
    grad_fn = lambda x: x - 3.0  # noqa: E731
    plain = []
    x_plain, p = -1.0, 0.1 + 0.1 + 1e-2  # the first prediction folds P_vv into P_xx; later P_hat = P + q_x + q_v
    R = 1.0
    for _ in range(20):
        loss, g = loss_fn(x_plain), grad_fn(x_plain)
        R = 0.9 * R + 0.1 * loss * loss
        s = p * g * g + R
        x_plain -= p / s * loss * g
        p = p * R / s + 2e-2
        plain.append(x_plain)
    x = torch.nn.Parameter(torch.tensor([-1.0], dtype=torch.float64))
    optimizer = KaFiStO([x], velocity_decay=0.0, adaptive_process_noise=False)
    got = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = (0.5 * (x - 3.0) ** 2 + 0.25).sum()
        loss.backward()
        optimizer.step(loss=loss)
        got.append(x.item())
    np.testing.assert_allclose(got, plain, rtol=1e-10)
    assert "velocity" not in optimizer.state[x]


def _model_and_batches(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    data = [(torch.randn(32, 8), torch.randint(0, 3, (32,))) for _ in range(12)]
    return model, data


def _train(model, optimizer, batches):
    for inputs, labels in batches:
        def closure():
            optimizer.zero_grad()
            losses = torch.nn.functional.cross_entropy(model(inputs), labels, reduction="none")
            losses.mean().backward()
            return losses
        optimizer.step(closure)


def test_state_dict_round_trip_resumes_bit_identically():
    model, batches = _model_and_batches()
    optimizer = KaFiStO(model.parameters(), weight_decay=5e-4)
    _train(model, optimizer, batches[:6])
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optim": optimizer.state_dict()}, buffer)
    _train(model, optimizer, batches[6:])
    straight = [p.detach().clone() for p in model.parameters()]

    buffer.seek(0)
    saved = torch.load(buffer)
    resumed, _ = _model_and_batches(seed=123)
    resumed.load_state_dict(saved["model"])
    optimizer = KaFiStO(resumed.parameters(), weight_decay=5e-4)
    optimizer.load_state_dict(saved["optim"])
    _train(resumed, optimizer, batches[6:])
    for a, b in zip(straight, resumed.parameters()):
        assert torch.equal(a, b)


def test_param_groups_keep_their_own_filters():
    model, batches = _model_and_batches()
    optimizer = KaFiStO([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.0}])
    before = [p.detach().clone() for p in model[2].parameters()]
    _train(model, optimizer, batches[:3])
    assert all(torch.equal(a, b) for a, b in zip(before, model[2].parameters()))  # lr 0: target = loss
    assert optimizer.state[model[0].weight]["covariance"] != optimizer.state[model[2].weight]["covariance"]


def _minimise(fn, start, steps, **kwargs):
    xy = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    optimizer = KaFiStO([xy], **kwargs)
    for _ in range(steps):
        def closure():
            optimizer.zero_grad()
            loss = fn(xy)
            loss.backward()
            return loss
        optimizer.step(closure)
    return xy.detach(), fn(xy).item()


def rosenbrock(xy):
    return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2


def beale(xy):
    x, y = xy[0], xy[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


@pytest.mark.parametrize("start", [(-1.5, 2.0), (0.0, 0.0), (2.0, 2.5)])
def test_converges_on_rosenbrock(start):
    point, value = _minimise(rosenbrock, start, 1000)
    assert value < 1e-4, (point, value)
    assert math.dist(point.tolist(), (1.0, 1.0)) < 0.05


@pytest.mark.parametrize("start", [(1.0, 1.0), (-1.0, -1.0), (2.0, -0.5)])
def test_converges_on_beale(start):
    point, value = _minimise(beale, start, 1000)
    assert value < 1e-4, (point, value)
    assert math.dist(point.tolist(), (3.0, 0.5)) < 0.05


def test_needs_the_loss():
    x = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="loss"):
        KaFiStO([x]).step()


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(velocity_decay=1.0), dict(initial_covariance=(0.1, 1.0, 0.1)),
                                    dict(weight_decay=-1.0), dict(measurement_noise=0.0)])
def test_rejects_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError):
        KaFiStO([torch.nn.Parameter(torch.zeros(1))], **kwargs)
