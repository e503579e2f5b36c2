"""Noise models for the posterior: small objects with one job each.

Each likelihood evaluates ``log p(y | mu, extra)`` for a batch of walkers at once
(``mu`` is ``(W, n)``, ``extra`` is ``(W, k)`` of its own noise parameters), says which
noise parameters it has, and draws new evaluations for posterior-predictive bands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, gammaln

from rlscaling.inputs import InputError

LIKELIHOODS = ("gaussian", "student_t", "ar1", "binomial", "beta_binomial")

_EPS = 1e-9


@dataclass(frozen=True)
class Likelihood:
    """Base: gaussian noise with unknown sd ``sigma`` (sampled as ``log_sigma``)."""

    name: str = "gaussian"

    @property
    def extra_names(self) -> tuple[str, ...]:
        return ("log_sigma",)

    def extra_bounds(self) -> tuple[NDArray, NDArray]:
        # The noise sd is in the reward's own units: 1e6 leaves room for episode returns in
        # the thousands (a cap of 10 pinned Hopper's sd of ~800 at 10 and made the posterior
        # and its forecast intervals far too narrow).
        return np.array([np.log(1e-6)]), np.array([np.log(1e6)])

    def initial_extra(self, noise_sd: float) -> NDArray:
        return np.array([np.log(max(noise_sd, 1e-5))])

    def log_like(
        self, y: NDArray, mu: NDArray, w: NDArray, n_eval: NDArray | None, extra: NDArray
    ) -> NDArray:
        sigma = np.exp(extra[:, 0:1])
        z2 = w * (y - mu) ** 2 / sigma**2
        return -np.sum(0.5 * z2 + np.log(sigma) - 0.5 * np.log(w), axis=1)

    def noise_sd(self, mu: NDArray, extra: NDArray, n_eval: float | None) -> NDArray:
        """Per-draw sd of a new evaluation at reward ``mu`` (``(S, m)``)."""
        return np.broadcast_to(np.exp(extra[:, 0:1]), mu.shape)

    def draw(
        self,
        rng: np.random.Generator,
        mu: NDArray,
        extra: NDArray,
        n_eval: float | None,
    ) -> NDArray:
        return mu + rng.normal(size=mu.shape) * self.noise_sd(mu, extra, n_eval)


@dataclass(frozen=True)
class StudentT(Likelihood):
    """Heavy-tailed noise (Student t with ``nu`` degrees of freedom, scale ``sigma``)."""

    name: str = "student_t"
    nu: float = 4.0

    def log_like(self, y, mu, w, n_eval, extra):  # type: ignore[no-untyped-def]
        sigma = np.exp(extra[:, 0:1])
        z2 = w * (y - mu) ** 2 / sigma**2
        nu = self.nu
        const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
        return np.sum(
            const - np.log(sigma) + 0.5 * np.log(w) - (nu + 1) / 2 * np.log1p(z2 / nu), axis=1
        )

    def draw(self, rng, mu, extra, n_eval):  # type: ignore[no-untyped-def]
        return mu + rng.standard_t(self.nu, size=mu.shape) * np.exp(extra[:, 0:1])


@dataclass(frozen=True)
class AR1(Likelihood):
    """Gaussian noise with lag-one autocorrelation ``rho`` between consecutive evaluations.

    Consecutive evaluations of one run share the policy's recent history, so their deviations
    from the smooth curve are correlated; ignoring that makes intervals too narrow.
    """

    name: str = "ar1"

    @property
    def extra_names(self) -> tuple[str, ...]:
        return ("log_sigma", "rho")

    def extra_bounds(self):  # type: ignore[no-untyped-def]
        return np.array([np.log(1e-6), -0.95]), np.array([np.log(1e6), 0.95])

    def initial_extra(self, noise_sd):  # type: ignore[no-untyped-def]
        return np.array([np.log(max(noise_sd, 1e-5)), 0.0])

    def log_like(self, y, mu, w, n_eval, extra):  # type: ignore[no-untyped-def]
        sigma = np.exp(extra[:, 0:1])
        rho = extra[:, 1:2]
        e = (y - mu) * np.sqrt(w)
        u = np.concatenate([e[:, :1] * np.sqrt(1 - rho**2), e[:, 1:] - rho * e[:, :-1]], axis=1)
        n = y.shape[-1]
        return (
            -n * np.log(sigma[:, 0])
            + 0.5 * np.log(1 - rho[:, 0] ** 2)
            - 0.5 * np.sum(u**2, axis=1) / sigma[:, 0] ** 2
        )

    def noise_sd(self, mu, extra, n_eval):  # type: ignore[no-untyped-def]
        return np.broadcast_to(np.exp(extra[:, 0:1]), mu.shape)


@dataclass(frozen=True)
class Binomial(Likelihood):
    """Pass rate measured on ``n_eval`` samples: ``k = y n ~ Binomial(n, mu)``.

    Small evaluation sets are noisier than large ones, as they are. Rewards must be in [0, 1].
    """

    name: str = "binomial"

    @property
    def extra_names(self) -> tuple[str, ...]:
        return ()

    def extra_bounds(self):  # type: ignore[no-untyped-def]
        return np.zeros(0), np.zeros(0)

    def initial_extra(self, noise_sd):  # type: ignore[no-untyped-def]
        return np.zeros(0)

    def log_like(self, y, mu, w, n_eval, extra):  # type: ignore[no-untyped-def]
        p = np.clip(mu, _EPS, 1 - _EPS)
        return np.sum(n_eval * (y * np.log(p) + (1 - y) * np.log1p(-p)), axis=1)

    def noise_sd(self, mu, extra, n_eval):  # type: ignore[no-untyped-def]
        p = np.clip(mu, 0, 1)
        return np.sqrt(p * (1 - p) / n_eval)

    def draw(self, rng, mu, extra, n_eval):  # type: ignore[no-untyped-def]
        n = int(n_eval)
        return rng.binomial(n, np.clip(mu, 0, 1)) / n


@dataclass(frozen=True)
class BetaBinomial(Binomial):
    """Binomial with overdispersion: ``mu`` varies between evaluations as Beta(mu phi, (1-mu) phi).

    The concentration ``phi`` (sampled as ``log_phi``) is learned from the data; large ``phi``
    is plain binomial, small ``phi`` means evaluations wobble more than their size implies
    (the policy itself changes between evaluations).
    """

    name: str = "beta_binomial"

    @property
    def extra_names(self) -> tuple[str, ...]:
        return ("log_phi",)

    def extra_bounds(self):  # type: ignore[no-untyped-def]
        return np.array([np.log(1.0)]), np.array([np.log(1e7)])

    def initial_extra(self, noise_sd):  # type: ignore[no-untyped-def]
        return np.array([np.log(1e3)])

    def log_like(self, y, mu, w, n_eval, extra):  # type: ignore[no-untyped-def]
        phi = np.exp(extra[:, 0:1])
        p = np.clip(mu, _EPS, 1 - _EPS)
        k = y * n_eval
        a, b = p * phi, (1 - p) * phi
        return np.sum(betaln(k + a, n_eval - k + b) - betaln(a, b), axis=1)

    def noise_sd(self, mu, extra, n_eval):  # type: ignore[no-untyped-def]
        phi = np.exp(extra[:, 0:1])
        p = np.clip(mu, 0, 1)
        return np.sqrt(p * (1 - p) / n_eval * (1 + (n_eval - 1) / (phi + 1)))

    def draw(self, rng, mu, extra, n_eval):  # type: ignore[no-untyped-def]
        phi = np.exp(extra[:, 0:1])
        p = np.clip(mu, _EPS, 1 - _EPS)
        q = rng.beta(p * phi, (1 - p) * phi)
        n = int(n_eval)
        return rng.binomial(n, q) / n


def get_likelihood(name: str | Likelihood) -> Likelihood:
    """Likelihood object by name (see :data:`LIKELIHOODS`) or pass one through."""
    if isinstance(name, Likelihood):
        return name
    table = {
        "gaussian": Likelihood(),
        "student_t": StudentT(),
        "ar1": AR1(),
        "binomial": Binomial(),
        "beta_binomial": BetaBinomial(),
    }
    if name not in table:
        raise InputError(f"likelihood must be one of {LIKELIHOODS}, got {name!r}")
    return table[name]
