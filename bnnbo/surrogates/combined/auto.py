"""Automatic surrogate choice by how well each candidate predicted the points BO chose.

Each candidate is scored on points it had not seen with ``bnnbo.surrogates.scoring.score`` (the
same code as ``bnnbo assess``) and the best-scoring one serves the acquisition.

Which points (``holdout``):

* ``"prequential"`` (default): every candidate is fitted on all the data at every fit
  (warm-started from its own previous fit) and scored, at the next fit, on the points BO
  acquired since, under the model that was fitted before they were chosen. Scores accumulate
  over the run (older points discounted by ``forget`` per point), so the choice rests on every
  prediction the candidates made where BO went, at one fit per candidate per iteration and no
  extra fit. The first fit seeds the scores with ``"recent"`` (with fewer than 3 points there is
  nothing to hold out: the first candidate serves until there are scores). After a resume in a
  new process the previous models are gone: the scores carry on from the state, every candidate
  is refitted, and the points told in between are not scored. The bookkeeping of a fit that
  extends the last one's data comes from that fit, also when the caller did not keep its state
  (an Optimizer keeps it only when the points told are the points it asked), and a fit
  repeated on the last fit's data (an ask repeated without a tell) is that fit again. With ``refresh`` k > 1 a candidate that
  does not serve is refitted only every k fits and predicts the points in between with its
  last model, so the candidates that lose cost about 1/k of their fits. Measured with k = 4
  (docs/auto_refresh.md): below its candidates' summed fit time, with outcomes not significantly
  different from k = 1's but a worse mean on two of seven problems, so k = 1 stays the default.
* ``"recent"``: every ``every`` fits, the most recent ``max(min_holdout, ceil(holdout_fraction *
  n))`` points are held out, each candidate is fitted cold on the rest and scored, and the best
  is fitted on all the data (if that fit fails, the next best): one extra fit per candidate. A
  choice made on too few points to hold any out is scored at the next fit that has enough.
* ``"kfold"``: ``folds``-fold cross-validation over a seeded permutation; ignores the order.

What a prediction scores (``metric``): ``"crps"`` (default; minus the continuous ranked
probability score), ``"lpd"`` (log predictive density) or ``"mse"`` (minus the squared error of
the mean). Measured in BO (docs/auto.md, ``benchmarks/auto_suite.py``): the log density prefers
the broad I-BNN where the GP's sharper, sometimes overconfident predictions lead BO further
(Ackley 10-D, Hartmann6), because it punishes a confident miss quadratically; CRPS punishes it
linearly and rewards sharpness, and with it ``auto`` follows the GP there.

What is served (``combine``): ``"choose"`` (default) the best-scoring candidate's model;
``"mix"`` (prequential only) the mixture ``sum_i w_i p_i`` of every candidate's model
(``bnnbo.mixture.MixtureModel``), with ``w_i`` proportional to ``exp`` of the candidate's
accumulated score summed over the scored points (a candidate that missed some, by a failed fit,
counts its mean score for them; ``mix_weights="score"``: a Gibbs posterior on the
``metric``; ``"lpd"``: pseudo-BMA on the log densities). The acquisition of a mixture is the
log-space weighted sum of each candidate's own (EI and EHVI are linear in the predictive
distribution), so the GP keeps its analytic LogEI. A candidate whose weight exceeds
``mix_threshold`` serves alone. Measured against choosing: docs/auto_mix.md (worse: under the
mixture the broader candidate's EI dominates where the GP is confident, docs/auto_mix_share.md).
``"hedge"`` (GP-Hedge, choosing by outcome; an Optimizer at q = 1 with one objective): every
candidate proposes the point its own acquisition would, and one proposal is drawn with
probability proportional to ``exp(hedge_eta * gain)``; a candidate's gain sums its proposals'
standardised posterior means at the next fit, averaged over every candidate's model
(``hedge_pick``). The proposal is what is rewarded, also when the loop evaluates another point
in its place (an exploring or unwarped step). Measured against choosing: docs/auto_hedge.md
(not kept: significantly worse than ``gp`` on Branin, where it takes the I-BNN's proposals
mostly in the first iterations, while the gains are still even; a seed on which it took the
GP's every time ends on ``gp``'s regret).

Scoring fits of "recent" / "kfold" start from no saved state, so a warm start cannot leak the
held-out points. The choice, the scores and the fit count travel in ``state_``; each fit records
them in ``diagnostics_`` (``choice``, ``scores``, ``scored``; with "mix" also ``weights`` and
``served``: a label, or ``"mix"``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from botorch.models.model import Model
from torch import Tensor

from bnnbo.errors import BnnboError, ConfigError, SurrogateError
from bnnbo.mixture import MixtureModel
from bnnbo.surrogates.base import Settings, Surrogate
from bnnbo.surrogates.scoring import score, surrogate_name


@dataclass(frozen=True)
class AutoSettings(Settings):
    #: candidate labels: a registered name, or ``name/suffix`` to list a name twice
    candidates: tuple[str, ...] = ("gp", "ibnn")
    #: per-label setting overrides, e.g. {"gp/paper": {"priors": "paper"}}
    candidate_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: "recent" / "kfold": re-score the candidates every ``every`` fits (1: every BO iteration)
    every: int = 1
    holdout: Literal["recent", "kfold", "prequential"] = "prequential"
    #: share of the data held out by "recent", at least ``min_holdout`` points
    holdout_fraction: float = 0.2
    min_holdout: int = 3
    #: folds of "kfold"
    folds: int = 5
    #: what a prediction scores: "lpd" (log predictive density), "crps" (minus the continuous ranked
    #: probability score) or "mse" (minus the squared error of the mean); higher is better
    metric: Literal["lpd", "crps", "mse"] = "crps"
    #: "prequential": weight kept by the accumulated score per newer point (1: all points count alike)
    forget: float = 1.0
    #: "choose": serve the best-scoring candidate's model; "mix": serve the weighted mixture of
    #: every candidate's model (bnnbo.mixture; needs holdout="prequential"); "hedge": every
    #: candidate proposes a point and one proposal is drawn by its past proposals' gains
    #: (GP-Hedge; needs holdout="prequential", and an Optimizer at q = 1 with one objective and
    #: acquisition="default")
    combine: Literal["choose", "mix", "hedge"] = "choose"
    #: "mix"'s weights, w_i proportional to exp(S_i): S_i the candidate's accumulated (``forget``-
    #: discounted) score summed over the scored points, "score" in ``metric`` (for "crps": a Gibbs
    #: posterior on minus the CRPS) or "lpd" (the log predictive densities: pseudo-BMA)
    mix_weights: Literal["score", "lpd"] = "score"
    #: "mix": a candidate whose weight exceeds this serves alone (the others are dropped)
    mix_threshold: float = 0.999
    #: "prequential" + "choose": the first candidate serves until the candidates have predicted
    #: this many of the points BO acquired (0: from the first fit on, by the seeding hold-out)
    min_evidence: int = 0
    #: "prequential" + "choose": a candidate that does not serve is refitted every ``refresh`` fits
    #: and predicts the points in between with its last model (1: every candidate at every fit)
    refresh: int = 1
    #: "hedge": a proposal is drawn with probability proportional to exp(hedge_eta * gain), a gain
    #: summing the standardised posterior means its candidate's proposals later had
    hedge_eta: float = 1.0
    added: ClassVar[dict[str, Any]] = {"min_evidence": 0, "refresh": 1, "hedge_eta": 1.0}

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ConfigError("candidates must list at least one surrogate")
        if len(set(self.candidates)) != len(self.candidates):
            raise ConfigError(f"candidates must be distinct, got {list(self.candidates)}")
        if any(surrogate_name(c) == "auto" for c in self.candidates):
            raise ConfigError("candidates cannot include 'auto'")
        if not isinstance(self.candidate_settings, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in self.candidate_settings.items()
        ):
            raise ConfigError(
                "candidate_settings must map candidate labels to tables of settings, e.g. "
                f'{{"gp/paper": {{"priors": "paper"}}}}, got {self.candidate_settings!r}'
            )
        stray = sorted(set(self.candidate_settings) - set(self.candidates))
        if stray:
            raise ConfigError(f"candidate_settings for {stray}, which are not candidates {list(self.candidates)}")
        if self.every < 1 or self.min_holdout < 1 or self.folds < 2:
            raise ConfigError(
                f"every >= 1, min_holdout >= 1 and folds >= 2 expected, got "
                f"{self.every}, {self.min_holdout}, {self.folds}"
            )
        if not 0 < self.forget <= 1:
            raise ConfigError(f"forget must be in (0, 1], got {self.forget}")
        if self.combine != "choose" and self.holdout != "prequential":
            raise ConfigError(
                f"combine={self.combine!r} needs holdout='prequential' (every candidate fitted on all the data), "
                f"got holdout={self.holdout!r}"
            )
        eta = self.hedge_eta
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not (0 < eta < math.inf):
            raise ConfigError(f"hedge_eta must be a positive finite number, got {eta!r}")
        if not 0.5 <= self.mix_threshold <= 1:
            raise ConfigError(f"mix_threshold must be in [0.5, 1], got {self.mix_threshold}")
        if not isinstance(self.refresh, int) or isinstance(self.refresh, bool) or self.refresh < 1:
            raise ConfigError(f"refresh must be an integer >= 1, got {self.refresh!r}")
        if self.refresh > 1 and (self.holdout != "prequential" or self.combine != "choose"):
            raise ConfigError(
                f"refresh={self.refresh} needs holdout='prequential' and combine='choose' (a mixture serves every "
                f"candidate, so each is refitted), got holdout={self.holdout!r}, combine={self.combine!r}"
            )
        if not isinstance(self.min_evidence, int) or self.min_evidence < 0:
            raise ConfigError(f"min_evidence must be an integer >= 0, got {self.min_evidence!r}")
        if self.min_evidence and (self.holdout != "prequential" or self.combine != "choose"):
            raise ConfigError(
                f"min_evidence={self.min_evidence} needs holdout='prequential' and combine='choose' (it counts the "
                f"points the candidates predicted), got holdout={self.holdout!r}, combine={self.combine!r}"
            )
        if not 0 < self.holdout_fraction < 1:
            raise ConfigError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")


class AutoSurrogate(Surrogate):
    """Uses, per fit, the candidate with the best held-out predictive log-likelihood."""

    name = "auto"
    Settings = AutoSettings

    def __init__(self, settings: AutoSettings | None = None, **overrides: Any):
        super().__init__(settings, **overrides)
        s: AutoSettings = self.settings
        self.members = {c: self._make(c) for c in s.candidates}
        # "prequential": the data and every candidate's model of the last fit, in memory only
        # (a model cannot go into a state file), and the state that fit left
        self._last: tuple[Tensor, Tensor, dict[str, Model]] | None = None
        self._last_state: dict[str, Any] | None = None
        # what the two above held before the last fit: a fit on the same data again (an ask
        # repeated without a tell) starts from there, as the last fit did, so it is the same fit
        self._before: tuple[Any, Any] = (None, None)
        #: "prequential": every candidate's model of the last fit (``hedge``: each proposes a point)
        self.models_: dict[str, Model] = {}

    def _make(self, label: str) -> Surrogate:
        from bnnbo.surrogates import get_surrogate  # the registry imports this module lazily

        try:
            return get_surrogate(surrogate_name(label), **self.settings.candidate_settings.get(label, {}))
        except BnnboError as exc:  # same error type, with the candidate named
            raise type(exc)(f"auto: candidate {label!r}: {exc}") from None

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        s: AutoSettings = self.settings
        state = state if isinstance(state, dict) else {}
        if s.holdout == "prequential":
            return self._fit_prequential(X, Y, seed, state)
        fits, choice, scores = state.get("fits", 0), state.get("choice"), state.get("scores", {})
        # a choice made without scores (too few points) is scored as soon as there are enough
        scored = choice not in self.members or state.get("unscored", False) or fits % s.every == 0
        unscored = False
        if scored and not self.scorable(X.shape[0]):  # too few points to hold any out
            scored, unscored = False, True
            choice = choice if choice in self.members else next(iter(self.members))
        errors: dict[str, str] = {}
        order = [choice, *(c for c in self.members if c != choice)]
        if scored:
            scores, errors = self.score_candidates(X, Y, seed)
            finite = {c: v for c, v in scores.items() if v is not None}
            if not finite:
                raise SurrogateError(f"auto: every candidate failed to fit: {errors}")
            order = sorted(finite, key=lambda c: -finite[c])  # ties: sorted is stable, candidate order
        states = dict(state.get("states", {}))
        for choice in order:  # the best that fits all the data serves; a failure passes to the next
            winner = self.members[choice]
            try:
                model = winner.fit(X, Y, seed=seed, state=states.get(choice))
                break
            except Exception as exc:  # noqa: BLE001 -- one failing candidate must not stop the run
                errors[choice] = f"{type(exc).__name__}: {exc}"
        else:
            raise SurrogateError(f"auto: no candidate fitted all the data: {errors}")
        states[choice] = winner.state_
        self.state_ = {"fits": fits + 1, "choice": choice, "scores": scores, "states": states}
        if unscored:
            self.state_["unscored"] = True
        self.diagnostics_ = {
            "choice": choice,
            "scores": scores,
            "scored": scored,
            "holdout": s.holdout,
            "fit": dict(winner.diagnostics_),
        }
        if errors:
            self.diagnostics_["errors"] = errors
        return model

    def _fit_prequential(self, X: Tensor, Y: Tensor, seed: int, state: dict) -> Model:
        s: AutoSettings = self.settings
        if self._repeats_last(X, Y):
            self._last, self._last_state = self._before
        self._before = (self._last, self._last_state)
        new = self._new_points(X, Y)
        if new is not None and self._last_state is not None:  # the models in memory and their bookkeeping
            state = self._last_state
        totals = dict(state.get("totals", {}))  # label -> [discounted sum of scores, weight]
        # "mix" by "lpd": the same for the log predictive densities, whatever ``metric`` is
        by_lpd = s.combine == "mix" and s.mix_weights == "lpd"
        lpd_totals = dict(state.get("lpd_totals", {}))
        errors: dict[str, str] = {}
        t_start = time.perf_counter()
        if new is None and not totals and self.scorable(X.shape[0]):  # nothing predicted yet: seed by "recent"
            metrics = ("lpd", s.metric) if by_lpd else (s.metric,)
            seeded, errors = self._score_metrics(X, Y, seed, metrics)
            totals = {c: [v[s.metric], 1.0] for c, v in seeded.items() if v is not None}
            if by_lpd:
                lpd_totals = {c: [v["lpd"], 1.0] for c, v in seeded.items() if v is not None}
        elif new is not None:
            prev_X, prev_Y, prev_models = self._last  # type: ignore[misc]
            k = X.shape[0] - prev_X.shape[0]
            decay = s.forget**k
            weight = sum(s.forget**j for j in range(k))
            for label, model in prev_models.items():
                try:
                    scored_new = score(model, X[new], Y[new], prev_Y)
                    value = _value(scored_new, s.metric)
                except Exception as exc:  # noqa: BLE001 -- a failed prediction drops only this candidate
                    errors[label] = f"{type(exc).__name__}: {exc}"
                    continue
                old_sum, old_w = totals.get(label, [0.0, 0.0])
                totals[label] = [decay * old_sum + value * weight, decay * old_w + weight]
                if by_lpd:
                    old_sum, old_w = lpd_totals.get(label, [0.0, 0.0])
                    lpd_totals[label] = [decay * old_sum + _value(scored_new, "lpd") * weight, decay * old_w + weight]
        scoring = time.perf_counter() - t_start
        states = dict(state.get("states", {}))
        prev_models = self._last[2] if new is not None and self._last is not None else {}
        fits = state.get("fits", 0)
        predicted = state.get("predicted", 0) + (0 if new is None else new.stop - new.start)
        forced = predicted < s.min_evidence and s.combine == "choose"  # too little evidence yet
        refit_at = dict(state.get("refit_at", {}))
        models: dict[str, Model] = {}
        seconds: dict[str, float] = {}  # each candidate's own fit, on the same data: auto's cost beside theirs

        def refit(label: str) -> None:
            t0 = time.perf_counter()
            try:
                models[label] = self.members[label].fit(X, Y, seed=seed, state=states.get(label))
                states[label] = self.members[label].state_
                refit_at[label] = fits
            except Exception as exc:  # noqa: BLE001 -- one failing candidate must not stop the run
                models.pop(label, None)
                errors[label] = f"{type(exc).__name__}: {exc}"
            seconds[label] = time.perf_counter() - t0

        def mean_score(c: str) -> float | None:  # the accumulated score per scored point
            return totals[c][0] / totals[c][1] if c in totals and totals[c][1] > 0 else None

        def pick(available: dict[str, Model]) -> str | None:
            if not available:
                return None
            if forced:
                return next(iter(available))
            finite = {c: v for c in available if (v := mean_score(c)) is not None}
            return max(finite, key=finite.get) if finite else next(iter(available))  # type: ignore[arg-type]

        lead = pick(prev_models)  # who serves unless its fit fails: refitted whatever ``refresh`` says
        stale: set[str] = set()
        for label in self.members:
            last = refit_at.get(label)
            if label in prev_models and label != lead and last is not None and fits - last < s.refresh:
                models[label] = prev_models[label]
                stale.add(label)
            else:
                refit(label)
        choice = pick(models)
        while choice in stale:  # the lead failed and a stale candidate is next: it serves refitted
            stale.discard(choice)
            refit(choice)
            choice = pick(models)
        scores = {c: mean_score(c) if c in models else None for c in self.members}
        if choice is None:
            self._last = self._last_state = None
            self._before = (None, None)
            raise SurrogateError(f"auto: every candidate failed to fit: {errors}")
        self.state_ = {
            "fits": fits + 1,
            "choice": choice,
            "scores": scores,
            "totals": totals,
            "states": states,
            "predicted": predicted,
            "refit_at": refit_at,
        }
        if by_lpd:
            self.state_["lpd_totals"] = lpd_totals
        if s.combine == "hedge":
            self.state_["hedge"], failed = _hedge_gains(state.get("hedge"), models, X, Y)
            errors.update({c: f"hedge reward: {e}" for c, e in failed.items()})
        self.models_ = dict(models)
        self._last, self._last_state = (X.clone(), Y.clone(), models), self.state_
        self.diagnostics_ = {
            "choice": choice,
            "scores": scores,
            "scored": True,
            "holdout": "prequential",
            "new_points": 0 if new is None else new.stop - new.start,
            "seconds": seconds,
            "refit": [c for c in self.members if c in seconds],
            "scoring_seconds": scoring,
            "fit": dict(self.members[choice].diagnostics_),
        }
        if errors:
            self.diagnostics_["errors"] = errors
        if s.combine == "hedge":  # the Optimizer draws the proposal (hedge_pick); alone, the best-scoring serves
            self.diagnostics_["hedge"] = {"eta": s.hedge_eta, "gains": dict(self.state_["hedge"]["gains"])}
        if s.combine != "mix":
            return models[choice]
        weights = mix_weights(lpd_totals if by_lpd else totals, list(models))
        self.diagnostics_["weights"] = weights
        mixed = {c: w for c, w in weights.items() if w > 0}
        if not mixed or max(mixed.values()) > s.mix_threshold:  # one candidate carries it: no extra cost
            served = choice if not mixed else max(mixed, key=mixed.get)  # type: ignore[arg-type]
            self.diagnostics_["served"] = served
            self.diagnostics_["fit"] = dict(self.members[served].diagnostics_)
            return models[served]
        self.diagnostics_["served"] = "mix"
        total = sum(mixed.values())
        return MixtureModel([models[c] for c in mixed], [w / total for w in mixed.values()], list(mixed))

    def hedge_pick(self, proposals: dict[str, Tensor], seed: int) -> str:
        """``combine="hedge"``: the candidate whose proposal is taken, drawn with probability
        proportional to ``exp(hedge_eta * gain)`` from the last fit's gains (a candidate without
        one counts the others' mean). The proposals are kept in ``state_``: the next fit rewards
        each with the standardised posterior mean it has then, averaged over the candidates'
        models (so that no candidate judges its own proposals alone)."""
        hedge = self.state_.get("hedge") if isinstance(self.state_, dict) else None
        if hedge is None or not proposals or not set(proposals) <= set(self.members):
            raise SurrogateError(
                f"auto: hedge_pick needs a fit with combine='hedge' and proposals of its candidates "
                f"{list(self.members)}, got {list(proposals)}"
            )
        d = self._last[0].shape[1] if self._last is not None else None
        for c, x in proposals.items():
            if x.numel() != d or not torch.isfinite(x).all():
                raise SurrogateError(f"auto: hedge_pick: {c!r}'s proposal must be one finite point of {d} inputs")
        labels = list(proposals)
        gains = hedge["gains"]
        known = [gains[c] for c in labels if c in gains]
        fill = sum(known) / len(known) if known else 0.0
        g = torch.tensor([gains.get(c, fill) for c in labels], dtype=torch.float64) * self.settings.hedge_eta
        probs = torch.softmax(g - g.max(), dim=0)
        i = int(torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed)))
        hedge["proposals"] = {c: [float(v) for v in proposals[c].reshape(-1)] for c in labels}
        label = labels[i]
        self.diagnostics_["served"] = label
        self.diagnostics_["hedge"] = {
            "eta": self.settings.hedge_eta,
            "gains": dict(gains),
            "probabilities": dict(zip(labels, probs.tolist())),
        }
        self.diagnostics_["fit"] = dict(self.members[label].diagnostics_)
        return label

    def _repeats_last(self, X: Tensor, Y: Tensor) -> bool:
        """Whether ``X, Y`` are exactly the data of the last fit."""
        if self._last is None:
            return False
        prev_X, prev_Y, _ = self._last
        return prev_X.shape == X.shape and prev_Y.shape == Y.shape and torch.equal(prev_X, X) and torch.equal(prev_Y, Y)

    def _new_points(self, X: Tensor, Y: Tensor) -> slice | None:
        """The rows added since the last fit, when the data extend the last fit's data."""
        if self._last is None:
            return None
        prev_X, prev_Y, models = self._last
        n = prev_X.shape[0]
        if not models or X.shape[0] <= n or X.shape[1] != prev_X.shape[1] or Y.shape[1] != prev_Y.shape[1]:
            return None
        if not (torch.equal(X[:n], prev_X) and torch.equal(Y[:n], prev_Y)):
            return None
        return slice(n, X.shape[0])

    def score_candidates(self, X: Tensor, Y: Tensor, seed: int) -> tuple[dict[str, float | None], dict[str, str]]:
        """Mean held-out score (``metric``) per candidate (None if it failed) and errors."""
        metric = self.settings.metric
        values, errors = self._score_metrics(X, Y, seed, (metric,))
        return {c: None if v is None else v[metric] for c, v in values.items()}, errors

    def _score_metrics(
        self, X: Tensor, Y: Tensor, seed: int, metrics: tuple[str, ...]
    ) -> tuple[dict[str, dict[str, float] | None], dict[str, str]]:
        """Mean held-out value of each of ``metrics`` per candidate (None if it failed) and errors."""
        splits = self.splits(X.shape[0], seed)
        scores: dict[str, dict[str, float] | None] = {}
        errors: dict[str, str] = {}
        for label, sur in self.members.items():
            try:
                total = dict.fromkeys(metrics, 0.0)
                for train, test in splits:
                    model = sur.fit(X[train], Y[train], seed=seed)
                    held = score(model, X[test], Y[test], Y[train])
                    for k in metrics:
                        total[k] += _value(held, k) * len(test)
                n = sum(len(t) for _, t in splits)
                scores[label] = {k: v / n for k, v in total.items()}
            except Exception as exc:  # noqa: BLE001 -- one failing candidate must not stop the run
                scores[label], errors[label] = None, f"{type(exc).__name__}: {exc}"
        return scores, errors

    def scorable(self, n: int) -> bool:
        """Whether ``n`` points are enough for the held-out scheme (``splits``)."""
        s: AutoSettings = self.settings
        if s.holdout in ("recent", "prequential"):
            return n >= 3
        return min(s.folds, n // 2) >= 2

    def splits(self, n: int, seed: int) -> list[tuple[Tensor, Tensor]]:
        """(train, test) index pairs of the held-out scheme for ``n`` points."""
        s: AutoSettings = self.settings
        if s.holdout in ("recent", "prequential"):  # prequential seeds its scores with "recent"
            h = min(max(s.min_holdout, math.ceil(s.holdout_fraction * n)), n - 2)
            if h < 1:
                raise SurrogateError(f"auto: {n} points are too few to hold any out")
            idx = torch.arange(n)
            return [(idx[: n - h], idx[n - h :])]
        k = min(s.folds, n // 2)
        if k < 2:
            raise SurrogateError(f"auto: {n} points are too few for {s.folds}-fold scoring")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        folds = perm.tensor_split(k)
        return [(torch.cat([f for j, f in enumerate(folds) if j != i]), folds[i]) for i in range(k)]


def _hedge_gains(hedge: Any, models: dict[str, Model], X: Tensor, Y: Tensor) -> tuple[dict[str, Any], dict[str, str]]:
    """``combine="hedge"``'s bookkeeping after a fit on ``X, Y``: each candidate's gain plus the
    reward of its last proposal, once points were told since it was made (a repeated fit on the
    same data rewards nothing). The reward is the proposal's posterior mean, averaged over the
    fitted models and standardised by the values (first objective, maximised). Also returns the
    errors of the models that could not predict there (they do not judge)."""
    hedge = hedge if isinstance(hedge, dict) else {}
    failed: dict[str, str] = {}
    gains = {str(c): float(v) for c, v in dict(hedge.get("gains", {})).items()}
    proposals = dict(hedge.get("proposals", {}))
    if proposals and models and int(hedge.get("n", X.shape[0])) < X.shape[0]:
        at = torch.tensor([proposals[c] for c in proposals], dtype=X.dtype)
        means = []
        for label, model in models.items():
            try:
                with torch.no_grad():
                    means.append(model.posterior(at.unsqueeze(1)).mean.reshape(len(proposals), -1)[:, 0])
            except Exception as exc:  # noqa: BLE001 -- a model that cannot predict there does not judge
                failed[label] = f"{type(exc).__name__}: {exc}"
        if means:
            y = Y[:, 0]
            spread = float(y.std()) if y.numel() > 1 else 0.0
            reward = (torch.stack(means).mean(0) - y.mean()) / (spread if spread > 0 else 1.0)
            for c, r in zip(proposals, reward.tolist()):
                if math.isfinite(r):
                    gains[c] = gains.get(c, 0.0) + r
    return {"gains": gains, "proposals": {}, "n": int(X.shape[0])}, failed


def mix_weights(totals: dict[str, list[float]], labels: list[str]) -> dict[str, float]:
    """``combine="mix"``'s weights over ``labels``: softmax of each one's accumulated score sum
    (``totals[label]``: the discounted sum over the scored points and their weight; the seeding
    hold-out counts as one point); 0 for a label with no score. A label that missed some points
    (a failed fit or prediction) counts its mean score for them, so that fewer points scored
    cannot raise its weight."""
    means = {
        c: totals[c][0] / totals[c][1]
        for c in labels
        if c in totals and totals[c][1] > 0 and math.isfinite(totals[c][0])
    }
    if not means:
        return dict.fromkeys(labels, 0.0)
    weight = max(totals[c][1] for c in means)
    sums = {c: v * weight for c, v in means.items()}
    top = max(sums.values())
    raw = {c: math.exp(v - top) for c, v in sums.items()}
    total = sum(raw.values())
    return {c: raw.get(c, 0.0) / total for c in labels}


def _value(scores: dict[str, Any], metric: str) -> float:
    """A candidate's score on some points, higher is better: the mean over objectives of the
    mean over points (``mse``: the mean squared error, so that it adds up over points)."""
    per_objective = {
        "lpd": [-v for v in scores["nll"]],
        "crps": [-v for v in scores["crps"]],
        "mse": [-(v**2) for v in scores["rmse"]],
    }[metric]
    return sum(per_objective) / len(per_objective)
