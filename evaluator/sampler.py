"""A Gibbs sampler for the crossed normal model of individual scores, and its convergence diagnostics.

The model (docs/scoring.md, section 7)::

    score = theta[proposal] + b[evaluator] + noise,     noise ~ N(0, sigma^2)
    theta[proposal] ~ N(g[topic], tau_theta^2),  b[evaluator] ~ N(0, tau_b^2),  g[topic] ~ N(mu, tau_g^2)

Every full conditional is normal or inverse-gamma, so each sweep is a handful of
array operations over all chains at once (chains are the first axis; sums per
proposal or evaluator are one ``bincount`` over chain-offset indices). The
standard deviations have half-Cauchy priors, written as inverse-gamma mixtures
(Wand et al. 2011) so that they stay conjugate; the sampler is seeded and gives the
same draws for the same seed and data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HYPER = ("mu", "sigma", "tau_proposal", "tau_evaluator", "tau_topic")


@dataclass(frozen=True)
class Observations:
    """The scores as arrays: one value per score, with the proposal and evaluator it belongs to."""

    y: np.ndarray
    proposal: np.ndarray
    evaluator: np.ndarray
    topic_of: np.ndarray
    """the topic index of each proposal (all zero when the call has no topics)"""
    proposals: int
    evaluators: int
    topics: int
    width: float
    """the width of the scale the scores are on: the priors are written in its units"""
    centre: float


@dataclass(frozen=True)
class Priors:
    """Half-Cauchy scales as shares of the scale width, and the normal prior of the overall mean."""

    sigma: float = 0.25
    tau_proposal: float = 0.25
    tau_evaluator: float = 0.05
    tau_topic: float = 0.1
    mu_sd: float = 1.0


@dataclass(frozen=True)
class Posterior:
    """Kept draws, chains first: merit is theta, a proposal's score from a neutral evaluator."""

    merit: np.ndarray  # (chains, draws, proposals), float32
    offset: np.ndarray  # (chains, draws, evaluators), float32
    hyper: dict[str, np.ndarray]  # name -> (chains, draws)


def sample(obs: Observations, chains: int, draws: int, warmup: int, seed: int, priors: Priors = Priors()) -> Posterior:
    """Run ``chains`` chains from dispersed starts; keep ``draws`` after ``warmup``."""
    rng = np.random.default_rng(seed)
    state = _State.start(obs, chains, rng, priors)
    merit = np.empty((chains, draws, obs.proposals), dtype=np.float32)
    offset = np.empty((chains, draws, obs.evaluators), dtype=np.float32)
    hyper = {name: np.empty((chains, draws)) for name in HYPER}
    for t in range(warmup + draws):
        state.sweep(rng)
        if t >= warmup:
            k = t - warmup
            merit[:, k] = state.theta
            offset[:, k] = state.b
            for name, value in state.hyper().items():
                hyper[name][:, k] = value
    return Posterior(merit, offset, hyper)


def _inverse_gamma(rng: np.random.Generator, shape: np.ndarray | float, scale: np.ndarray) -> np.ndarray:
    return scale / rng.gamma(shape, 1.0, size=np.shape(scale))


class _State:
    """One state per chain, updated block by block from the full conditionals."""

    def __init__(self, obs: Observations, chains: int, priors: Priors):
        self.obs, self.chains = obs, chains
        self.scale = {
            name: (share * obs.width) ** 2
            for name, share in (
                ("sigma", priors.sigma),
                ("tau_proposal", priors.tau_proposal),
                ("tau_evaluator", priors.tau_evaluator),
                ("tau_topic", priors.tau_topic),
            )
        }
        self.mu_prior_var = (priors.mu_sd * obs.width) ** 2
        offsets = np.arange(chains)[:, None]
        self.by_topic = (offsets * obs.topics + obs.topic_of[None, :]).ravel()
        # The scores enter every conditional only through these sufficient statistics, so a sweep costs
        # O(proposal-evaluator pairs), never a pass over the scores themselves.
        import scipy.sparse as sp  # here, not at the top: the ranking's JSON imports this module's models

        shape = (obs.proposals, obs.evaluators)
        self.pairs = sp.csr_array((np.ones(len(obs.y)), (obs.proposal, obs.evaluator)), shape=shape)
        self.pairs_t = self.pairs.T.tocsr()
        self.y_proposal = np.bincount(obs.proposal, obs.y, minlength=obs.proposals)
        self.y_evaluator = np.bincount(obs.evaluator, obs.y, minlength=obs.evaluators)
        self.y_squares = float(obs.y @ obs.y)
        self.n_proposal = np.bincount(obs.proposal, minlength=obs.proposals)
        self.n_evaluator = np.bincount(obs.evaluator, minlength=obs.evaluators)
        self.n_topic = np.bincount(obs.topic_of, minlength=obs.topics)

    @classmethod
    def start(cls, obs: Observations, chains: int, rng: np.random.Generator, priors: Priors) -> _State:
        state = cls(obs, chains, priors)
        spread = float(np.std(obs.y)) or obs.width / 10
        state.mu = float(np.mean(obs.y)) + rng.normal(0, spread / 2, chains)
        state.theta = state.mu[:, None] + rng.normal(0, spread, (chains, obs.proposals))
        state.b = rng.normal(0, spread / 4, (chains, obs.evaluators))
        state.g = np.repeat(state.mu[:, None], obs.topics, axis=1)
        state.var = {name: spread**2 * rng.uniform(0.5, 2, chains) for name in state.scale}
        state.aux = {name: np.ones(chains) * state.scale[name] for name in state.scale}
        return state

    mu: np.ndarray
    theta: np.ndarray
    b: np.ndarray
    g: np.ndarray
    var: dict[str, np.ndarray]
    aux: dict[str, np.ndarray]

    def _sums(self, index: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
        return np.bincount(index, weights=values.ravel(), minlength=self.chains * groups).reshape(self.chains, groups)

    def _normal(self, rng: np.random.Generator, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
        return mean + rng.standard_normal(mean.shape) / np.sqrt(precision)

    def sweep(self, rng: np.random.Generator) -> None:
        obs, t = self.obs, self.obs.topic_of
        s2, t2, b2 = self.var["sigma"][:, None], self.var["tau_proposal"][:, None], self.var["tau_evaluator"][:, None]
        # proposal merits, centred on their topic's mean (hierarchical centring mixes well when data inform)
        rest = self.y_proposal[None, :] - (self.pairs @ self.b.T).T
        precision = self.n_proposal[None, :] / s2 + 1 / t2
        self.theta = self._normal(rng, (rest / s2 + self.g[:, t] / t2) / precision, precision)
        # evaluator effects: leniency and severity, shrunk towards zero
        rest = self.y_evaluator[None, :] - (self.pairs_t @ self.theta.T).T
        precision = self.n_evaluator[None, :] / s2 + 1 / b2
        self.b = self._normal(rng, rest / s2 / precision, precision)
        squares = self._residual_squares()  # the shift below leaves every fitted score as it is
        self._shift(rng)
        # topic means around the overall mean, and the overall mean (one topic: the topic mean is the overall mean)
        if obs.topics > 1:
            g2 = self.var["tau_topic"][:, None]
            rest = self._sums(self.by_topic, self.theta, obs.topics)
            precision = self.n_topic[None, :] / t2 + 1 / g2
            self.g = self._normal(rng, (rest / t2 + self.mu[:, None] / g2) / precision, precision)
            self.mu = self._normal_mean(rng, self.g, self.var["tau_topic"])
        else:
            self.mu = self._normal_mean(rng, self.theta, self.var["tau_proposal"])
            self.g = self.mu[:, None]
        self._variance(rng, "sigma", squares, len(obs.y))
        self._variance(rng, "tau_proposal", ((self.theta - self.g[:, t]) ** 2).sum(axis=1), obs.proposals)
        self._variance(rng, "tau_evaluator", (self.b**2).sum(axis=1), obs.evaluators)
        if obs.topics > 1:
            self._variance(rng, "tau_topic", ((self.g - self.mu[:, None]) ** 2).sum(axis=1), obs.topics)

    def _residual_squares(self) -> np.ndarray:
        """Sum of (y - theta - b)^2 over the scores, per chain, expanded into the sufficient statistics."""
        theta, b = self.theta, self.b
        cross = (theta * (self.pairs @ b.T).T).sum(axis=1)
        fitted = (self.n_proposal * theta**2).sum(axis=1) + (self.n_evaluator * b**2).sum(axis=1) + 2 * cross
        linear = theta @ self.y_proposal + b @ self.y_evaluator
        return np.maximum(self.y_squares - 2 * linear + fitted, 0.0)

    def _shift(self, rng: np.random.Generator) -> None:
        """Move every evaluator effect up by c and every merit, topic mean and the overall mean down by c.

        The scores' likelihood does not see c, so the chain would otherwise trade
        leniency against merit only slowly; c is drawn from its exact conditional (a
        translation, so a valid Gibbs step: Liu and Sabatti 2000).
        """
        b2 = self.var["tau_evaluator"]
        precision = self.obs.evaluators / b2 + 1 / self.mu_prior_var
        mean = (-self.b.sum(axis=1) / b2 + (self.mu - self.obs.centre) / self.mu_prior_var) / precision
        c = self._normal(rng, mean, precision)
        self.b = self.b + c[:, None]
        self.theta, self.g, self.mu = self.theta - c[:, None], self.g - c[:, None], self.mu - c

    def _normal_mean(self, rng: np.random.Generator, members: np.ndarray, var: np.ndarray) -> np.ndarray:
        """The overall mean given the effects centred on it, under its wide normal prior."""
        precision = members.shape[1] / var + 1 / self.mu_prior_var
        mean = (members.sum(axis=1) / var + self.obs.centre / self.mu_prior_var) / precision
        return self._normal(rng, mean, precision)

    def _variance(self, rng: np.random.Generator, name: str, squares: np.ndarray, count: int) -> None:
        """Half-Cauchy(A) on the sd: var | a ~ IG(1/2, 1/a), a ~ IG(1/2, 1/A^2), both conjugate."""
        self.var[name] = _inverse_gamma(rng, (count + 1) / 2, 1 / self.aux[name] + squares / 2)
        self.aux[name] = _inverse_gamma(rng, 1.0, 1 / self.var[name] + 1 / self.scale[name])

    def hyper(self) -> dict[str, np.ndarray]:
        return {
            "mu": self.mu,
            "sigma": np.sqrt(self.var["sigma"]),
            "tau_proposal": np.sqrt(self.var["tau_proposal"]),
            "tau_evaluator": np.sqrt(self.var["tau_evaluator"]),
            "tau_topic": np.sqrt(self.var["tau_topic"]) if self.obs.topics > 1 else np.zeros(self.chains),
        }


# --- diagnostics ----------------------------------------------------------------------------------------------

CHUNK = 256


def split_rhat(x: np.ndarray) -> np.ndarray:
    """Split-chain potential scale reduction (Gelman et al., BDA3 11.4) of each parameter; x is (chains, draws, P)."""
    half = x.shape[1] // 2
    halves = np.concatenate([x[:, :half], x[:, half : 2 * half]], axis=0).astype(np.float64)
    n = halves.shape[1]
    within = halves.var(axis=1, ddof=1).mean(axis=0)
    between = n * halves.mean(axis=1).var(axis=0, ddof=1)
    pooled = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = np.sqrt(pooled / within)
    return np.where(within > 0, rhat, 1.0)


def effective_size(x: np.ndarray) -> np.ndarray:
    """Effective sample size across chains (Geyer's initial monotone sequence, as Stan computes it)."""
    return np.concatenate([_ess(x[:, :, k : k + CHUNK]) for k in range(0, x.shape[2], CHUNK)])


def _ess(x: np.ndarray) -> np.ndarray:
    """Autocovariances by FFT in single precision (ample for a diagnostic, twice as fast)."""
    import scipy.fft

    chains, draws, _ = x.shape
    centred = x.astype(np.float32) - x.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    size = scipy.fft.next_fast_len(2 * draws, real=True)
    spectrum = scipy.fft.rfft(centred, n=size, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    acov = scipy.fft.irfft(power, n=size, axis=1)[:, :draws].astype(np.float64) / draws
    within = (acov[:, 0] * draws / (draws - 1)).mean(axis=0)
    between = x.mean(axis=1).var(axis=0, ddof=1) if chains > 1 else 0.0
    var_plus = within * (draws - 1) / draws + between
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1 - (within - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    pairs = rho[: draws - draws % 2 : 2] + rho[1 : draws - draws % 2 : 2]
    positive = np.cumprod(pairs > 0, axis=0).astype(bool)
    monotone = np.minimum.accumulate(np.where(positive, pairs, np.inf), axis=0)
    tau = -1 + 2 * np.where(positive, monotone, 0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = chains * draws / np.maximum(tau, 1 / np.log10(chains * draws))
    return np.where(var_plus > 0, ess, float(chains * draws))
