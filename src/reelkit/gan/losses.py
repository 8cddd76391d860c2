"""Adversarial losses: hinge, non-saturating, and KDD, the kernel density discrimination loss.

KDD ("Generative Adversarial Learning via Kernel Density Discrimination", Lemkhenter, Bielski, Sari,
Favaro, 2021) replaces the discriminator's linear read-out by an explicit likelihood ratio: in the
discriminator's feature space it builds kernel density estimates (KDEs) of the real and the generated
distributions from the mini-batch and classifies every sample by which estimate explains it better.

Source note: neither the paper's full text nor its official code could be read from reelkit's build
machines (only the abstract), so the equations below are reelkit's statement of the method the abstract
describes ("likelihood ratio optimization", "(local) KDEs defined directly in feature space",
"features optimized for discrimination of distributions") and carry no paper equation numbers:

    u = phi(x) / ||phi(x)||                                  features on the unit sphere
    k(u, v) = exp(-||u - v||^2 / (2 sigma^2))                Gaussian kernel, bandwidth sigma
    p_r(u) = 1/|R'| sum_{v in R'} k(u, v)                    KDE of the real batch R
    p_f(u) = 1/|F'| sum_{v in F'} k(u, v)                    KDE of the fake batch F
    r(u) = log p_r(u) - log p_f(u)                           log likelihood ratio

R' and F' leave u itself out (a point is never evidence for its own density). The discriminator is the
likelihood-ratio classifier: it minimises ``softplus(-r)`` on reals and ``softplus(r)`` on fakes, the
cross-entropy of the KDE posterior p_r / (p_r + p_f). The generator minimises the likelihood ratios
themselves, averaged over both batches,

    L_G = E_real[r(u)] - E_fake[r(u)]  ~  KL(p_r || p_f) + KL(p_f || p_r)  (in feature space),

with gradients through the fakes as queries and as centres of p_f. The first term pulls fakes towards
every real sample, also those in regions no fake reaches yet (mode covering, unlike a loss on the fakes
alone, whose softplus saturates exactly there); the second makes fakes look real and keeps them apart.
As a regulariser the KDD terms are added, weighted by ``kdd_weight``, to the hinge loss computed from
the same forward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("hinge", "ns", "kdd", "hinge+kdd")


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """SN-GAN / SA-GAN discriminator hinge loss: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def ns_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al.'s discriminator loss, written with softplus for stability."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def ns_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss, -log D(G(z))."""
    return F.softplus(-fake_logits).mean()


def _log_kde(queries: torch.Tensor, centres: torch.Tensor, sigma: float, leave_out_self: bool) -> torch.Tensor:
    """log of the Gaussian KDE of ``centres`` at each query; queries and centres are unit vectors."""
    squared = (2.0 - 2.0 * queries @ centres.T).clamp_min(0.0)  # ||u - v||^2 on the unit sphere
    log_kernel = -squared / (2.0 * sigma**2)
    count = centres.shape[0]
    if leave_out_self:
        log_kernel = log_kernel.masked_fill(torch.eye(count, dtype=torch.bool, device=queries.device), float("-inf"))
        count -= 1
    return torch.logsumexp(log_kernel, dim=1) - math.log(count)


def kde_log_ratio(features: torch.Tensor, real_features: torch.Tensor, fake_features: torch.Tensor,
                  sigma: float, features_are: str) -> torch.Tensor:
    """r(u) = log p_r(u) - log p_f(u) for each row of ``features``.

    ``features_are`` says which batch the queries belong to ("real" or "fake") so that each query is
    left out of its own batch's estimate.
    """
    if features_are not in ("real", "fake"):
        raise ValueError("features_are must be 'real' or 'fake'")
    return (_log_kde(features, real_features, sigma, leave_out_self=features_are == "real")
            - _log_kde(features, fake_features, sigma, leave_out_self=features_are == "fake"))


def normalise_features(features: torch.Tensor) -> torch.Tensor:
    """Project features onto the unit sphere, flattening any spatial axes first."""
    return F.normalize(features.flatten(1), dim=1, eps=1e-8)


def kdd_d_loss(real_features: torch.Tensor, fake_features: torch.Tensor, sigma: float) -> torch.Tensor:
    """Discriminator side of KDD: each sample is classified by the KDE likelihood ratio."""
    if real_features.shape[0] < 2 or fake_features.shape[0] < 2:
        raise ValueError("KDD needs at least two real and two fake samples per batch")
    real, fake = normalise_features(real_features), normalise_features(fake_features)
    real_ratio = kde_log_ratio(real, real, fake, sigma, "real")
    fake_ratio = kde_log_ratio(fake, real, fake, sigma, "fake")
    return F.softplus(-real_ratio).mean() + F.softplus(fake_ratio).mean()


def kdd_g_loss(real_features: torch.Tensor, fake_features: torch.Tensor, sigma: float) -> torch.Tensor:
    """Generator side of KDD: E_real[r] - E_fake[r], the symmetric KL of the two KDEs."""
    if real_features.shape[0] < 2 or fake_features.shape[0] < 2:
        raise ValueError("KDD needs at least two real and two fake samples per batch")
    real, fake = normalise_features(real_features), normalise_features(fake_features)
    return kde_log_ratio(real, real, fake, sigma, "real").mean() - kde_log_ratio(fake, real, fake, sigma, "fake").mean()


@dataclass(frozen=True)
class AdversarialLoss:
    """One of ``LOSSES`` with its KDD settings; called on the discriminator's outputs.

    The discriminator is expected to return ``(logits, features)``: the linear read-out used by the
    hinge and non-saturating losses, and the features it is computed from, used by KDD.
    """

    name: str = "hinge"
    sigma: float = 0.5  # kernel bandwidth on the unit sphere (reelkit's default: the paper's value was not readable)
    kdd_weight: float = 1.0  # weight of the KDD terms when they regularise the hinge loss

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ValueError(f"unknown GAN loss {self.name!r}; choose one of {', '.join(LOSSES)}")
        if self.sigma <= 0 or self.kdd_weight < 0:
            raise ValueError("sigma must be positive and kdd_weight non-negative")

    @property
    def uses_kdd(self) -> bool:
        return "kdd" in self.name

    def discriminator(self, real: tuple[torch.Tensor, torch.Tensor], fake: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        (real_logits, real_features), (fake_logits, fake_features) = real, fake
        if self.name == "ns":
            return ns_d_loss(real_logits, fake_logits)
        if self.name == "kdd":
            return kdd_d_loss(real_features, fake_features, self.sigma)
        loss = hinge_d_loss(real_logits, fake_logits)
        if self.uses_kdd:
            loss = loss + self.kdd_weight * kdd_d_loss(real_features, fake_features, self.sigma)
        return loss

    def generator(self, real: tuple[torch.Tensor, torch.Tensor] | None, fake: tuple[torch.Tensor, torch.Tensor],
                  aim_at_zero: bool = False) -> torch.Tensor:
        """``real`` (the discriminator's outputs on a real batch) is needed only by the KDD losses.

        ``aim_at_zero`` is for optimisers that drive the loss towards zero (KaFiStO's target loss): the hinge
        term becomes relu(1 - D(G(z))), never negative, with the same gradient wherever D(G(z)) < 1. The KDD
        term needs no change: zero is its equilibrium (equal densities).
        """
        fake_logits, fake_features = fake
        if self.name == "ns":
            return ns_g_loss(fake_logits)
        if self.uses_kdd and real is None:
            raise ValueError("the KDD generator loss needs the discriminator's features of a real batch")
        if self.name == "kdd":
            return kdd_g_loss(real[1].detach(), fake_features, self.sigma)
        loss = torch.relu(1.0 - fake_logits).mean() if aim_at_zero else hinge_g_loss(fake_logits)
        if self.uses_kdd:
            loss = loss + self.kdd_weight * kdd_g_loss(real[1].detach(), fake_features, self.sigma)
        return loss
