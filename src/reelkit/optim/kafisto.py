"""KaFiStO (Davtyan, Sameni, Cerkezi, Meishvili, Bielski, Favaro, "KaFiStO: A Kalman Filtering
Framework for Stochastic Optimization", arXiv 2107.03331; published as KOALA, AAAI 2022)."""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch.optim import Optimizer

_EPS = 1e-9  # a tensor whose gradient norm is below this carries no measurement and is skipped


class KaFiStO(Optimizer):
    r"""Kalman-filter stochastic optimiser.

    The weights :math:`x` and a velocity :math:`v` are the hidden state of a linear dynamical system;
    the mini-batch loss is a noisy measurement of a target loss, linearised with its gradient.
    Covariances are isotropic (:math:`P_{ij}\,I`), so the state is the weights, the velocity and a
    2x2 matrix per parameter group: memory is O(parameters), like momentum SGD.

    The paper's two variants are one class here: KOALA-M (dynamics with velocity, the default) and
    KOALA-V (``velocity_decay=0``), the names of its later version (arXiv v3, where KaFiStO became KOALA).
    Defaults and noise estimators are those of the authors' code (github.com/Araachie/koala).

    Prediction (the dynamical model with velocity, "KOALA-M"):

    .. math::
        \hat x_k = x_{k-1} + v_{k-1},\quad \hat v_k = a\,v_{k-1},\quad
        \hat P_k = F P_{k-1} F^\top + Q_k,\quad F = \begin{bmatrix}1 & 1\\ 0 & a\end{bmatrix},\quad
        Q_k = \mathrm{diag}(q_{x,k}, q_v)

    Update (the extended-Kalman-filter measurement update; the measurement is :math:`L_k(\hat x_k)`, :math:`H_k = \nabla L_k(\hat x_k)^\top`),
    for each parameter tensor with gradient :math:`g` (weight decay adds :math:`\lambda x` to
    :math:`g` and :math:`\tfrac{\lambda}{2}\|x\|^2` to :math:`L`):

    .. math::
        S_k = \hat P_{xx}\,\|g\|^2 + R_k,\qquad
        x_k = \hat x_k - \frac{\hat P_{xx}}{S_k}\,(L_k - L^{\text{target}}_k)\,g,\qquad
        v_k = \hat v_k - \frac{\hat P_{vx}}{S_k}\,(L_k - L^{\text{target}}_k)\,g,

    .. math::
        P_k = \hat P_k - \max_{\text{tensors}}\frac{\|g\|^2}{S_k}\;\hat P_{:,x}\hat P_{x,:}
        \quad(\text{i.e. } (I - K H)\hat P\text{ for the most informative tensor})

    Target loss: :math:`L_k - L^{\text{target}}_k = \eta\,L_k` with :math:`\eta` = ``lr``
    (:math:`\eta = 1` aims at zero loss; a schedule on ``lr`` anneals the target).

    Noise estimates (official code's defaults): :math:`R_k = \beta R_{k-1} + (1-\beta)\,
    \overline{\ell^2}` with :math:`\overline{\ell^2}` the mean squared per-sample loss (the squared
    mean loss when only the mean is given); :math:`q_{x,k} = \beta q_{x,k-1} + (1-\beta)\,
    \|\bar x - x\|/n` with :math:`\bar x` an exponential average of the weights and :math:`n` the
    number of weights; :math:`\beta = 0.9`.

    With ``velocity_decay=0`` the velocity stays zero and this is plain KaFiStO
    (:math:`\hat P = P + q_x + q_v`).

    ``step`` takes the loss: either ``closure`` (zeroes the gradients, computes the loss, calls
    ``backward`` on its mean, returns it) or ``loss=`` after your own ``backward``. Either may be the
    per-sample losses (1-D) instead of their mean. After ``step`` the weights are the next prediction
    :math:`\hat x_{k+1}`, where the next gradient must be taken.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1.0,
        velocity_decay: float = 0.9,
        initial_covariance: tuple[float, float, float] = (0.1, 0.0, 0.1),
        process_noise: tuple[float, float] = (1e-2, 1e-2),
        measurement_noise: float | None = None,
        adaptive_process_noise: bool = True,
        noise_averaging: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0.0 <= velocity_decay < 1.0:
            raise ValueError(f"velocity_decay must be in [0, 1), got {velocity_decay}")
        p_xx, p_xv, p_vv = initial_covariance
        if p_xx <= 0 or p_vv < 0 or p_xv * p_xv > p_xx * p_vv:
            raise ValueError(f"initial_covariance (P_xx, P_xv, P_vv) = {initial_covariance} is not a covariance")
        if min(process_noise) < 0 or (measurement_noise is not None and measurement_noise <= 0):
            raise ValueError("noise variances must be positive")
        if not 0.0 <= noise_averaging < 1.0:
            raise ValueError(f"noise_averaging must be in [0, 1), got {noise_averaging}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(lr=lr, velocity_decay=velocity_decay, initial_covariance=tuple(initial_covariance),
                        process_noise=tuple(process_noise), measurement_noise=measurement_noise,
                        adaptive_process_noise=adaptive_process_noise, noise_averaging=noise_averaging,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _group_state(self, group: dict) -> dict:
        """Filter state shared by a group: the 2x2 covariance ``[P_xx, P_xv, P_vv]`` and the noise
        estimates, as Python floats (float64, saved exactly by ``state_dict``) on the group's first tensor."""
        state = self.state[group["params"][0]]
        if "covariance" not in state:
            state["covariance"] = list(group["initial_covariance"])
            state["process_noise_x"] = float(group["process_noise"][0])
            state["measurement_noise"] = 1.0 if group["measurement_noise"] is None else float(group["measurement_noise"])
            state["step"] = 0
            self._predict(group, state)  # x_hat_1 = x_0 since v_0 = 0
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None, loss: torch.Tensor | float | None = None):
        """One filter update with the loss of the current mini-batch, then the prediction for the next."""
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if loss is None:
            raise ValueError("KaFiStO measures the loss: pass step(closure) or step(loss=loss)")
        losses = torch.as_tensor(loss).detach().to(torch.float64)
        loss_mean, loss_second_moment = torch.stack([losses.mean(), (losses * losses).mean()]).tolist()

        for group in self.param_groups:
            state = self._group_state(group)
            beta, lr, weight_decay = group["noise_averaging"], group["lr"], group["weight_decay"]
            if group["measurement_noise"] is None:
                state["measurement_noise"] = beta * state["measurement_noise"] + (1 - beta) * loss_second_moment
            r = state["measurement_noise"]
            p_xx, p_xv, p_vv = state["covariance"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if weight_decay:
                grads = torch._foreach_add(grads, params, alpha=weight_decay)
            grad_norms2 = torch.stack(torch._foreach_norm(grads)).to(torch.float64).square().tolist()
            penalties = [0.0] * len(params)
            if weight_decay:
                penalties = (0.5 * weight_decay * torch.stack(torch._foreach_norm(params)).to(torch.float64).square()).tolist()
            information = None
            updated = []
            for param, grad, grad_norm2, penalty in zip(params, grads, grad_norms2, penalties):
                if grad_norm2 < _EPS * _EPS:
                    continue
                innovation = lr * (loss_mean + penalty)  # L - L_target ("loss adaptivity")
                s = p_xx * grad_norm2 + r  # innovation variance H P_hat H^T + R
                param.add_(grad, alpha=-(p_xx / s) * innovation)  # x = x_hat - K_x (L - L_target)
                if group["velocity_decay"] > 0:
                    velocity = self.state[param].setdefault("velocity", torch.zeros_like(param))
                    velocity.add_(grad, alpha=-(p_xv / s) * innovation)  # v = v_hat - K_v (L - L_target)
                information = grad_norm2 / s if information is None else max(information, grad_norm2 / s)
                updated.append(param)
            if information is not None:  # P = (I - K H) P_hat for the most informative tensor
                state["covariance"] = [p_xx - information * p_xx * p_xx, p_xv - information * p_xx * p_xv,
                                       p_vv - information * p_xv * p_xv]
            if group["adaptive_process_noise"] and updated:
                averages = [self.state[p].setdefault("weight_average", torch.zeros_like(p)) for p in updated]
                torch._foreach_mul_(averages, beta)
                torch._foreach_add_(averages, updated, alpha=1 - beta)
            state["step"] += 1
            self._predict(group, state)
        return loss

    def _predict(self, group: dict, state: dict) -> None:
        """x_hat = x + v, v_hat = a v, P_hat = F P F^T + Q, with q_x estimated from the drift of the weights."""
        a, beta, params = group["velocity_decay"], group["noise_averaging"], group["params"]
        if group["adaptive_process_noise"]:
            differences = [p if "weight_average" not in self.state[p] else self.state[p]["weight_average"] - p
                           for p in params]
            drift = torch.stack(torch._foreach_norm(differences)).to(torch.float64).norm().item()
            count = sum(p.numel() for p in params)
            state["process_noise_x"] = beta * state["process_noise_x"] + (1 - beta) * drift / count
        moving = [p for p in params if "velocity" in self.state[p]]
        if moving:
            velocities = [self.state[p]["velocity"] for p in moving]
            torch._foreach_add_(moving, velocities)
            torch._foreach_mul_(velocities, a)
        p_xx, p_xv, p_vv = state["covariance"]
        state["covariance"] = [p_xx + 2 * p_xv + p_vv + state["process_noise_x"],  # F P F^T + Q, F = [[1, 1], [0, a]]
                               a * (p_xv + p_vv),
                               a * a * p_vv + group["process_noise"][1]]
