"""The study's settings, one entry per problem: the single source of every ``paper:*`` preset.

*A Study of Bayesian Neural Network Surrogates for Bayesian Optimization* (Li, Rudner &
Wilson, ICLR 2024) configured each problem in one JSON file (bnn-bo ``config/*.json`` at its
figure commit d3627e6). ``STUDY`` holds those files' values, keyed by bnnbo's problem names
and written in the study's own vocabulary (``regnet_dims``, ``noise_var``, ...; ``None``
where a config leaves a value out). Everything the study fixed in code rather than in a
config is in ``STUDY_CODE``. The ``*_presets()`` functions translate both into bnnbo
settings; each surrogate's ``presets`` table is built from them, and each problem's
``paper_budget`` from ``budget()``. Adding a paper problem is one ``STUDY`` entry.

``python -m bnnbo.paper_ledger`` prints docs/paper-fidelity.md from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the study's config names where they differ from bnnbo's problem names
CONFIG_NAMES = {"hartmann6": "hartmann", "nndraw": "bnn_400", "distill": "kd"}


@dataclass(frozen=True)
class StudyConfig:
    """One study config file: loop settings and each surrogate's model arguments."""

    seed: int  # torch.manual_seed(seed) once, then the trials in sequence
    n_init: int
    q: int  # the config's batch_size
    iterations: int  # n_BO_iters
    #: the HMC model's network; HMC, SGHMC and Laplace use the same widths
    regnet_dims: tuple[int, ...]
    #: HMC: prior_var, noise_var (used as a std), n_burn_in, n_samples_per_chain, step_size,
    #: path_length, standardize_y
    hmc: dict[str, Any]
    #: DKL: regnet_dims, pretrain_steps, train_steps, learning_rate (None: the code's 1e-3)
    dkl: dict[str, Any]
    #: I-BNN: var_b (var_w 10, depth 3 and the ReLU kernel everywhere)
    ibnn_var_b: float
    #: ensemble: regnet_dims, prior_var (None: absent), noise_var
    ensemble: dict[str, Any]
    #: SGHMC: prior_var (None: absent from the config, which crashed the study's code at
    #: d3627e6; its later code falls back to 1.0, as bnnbo's presets do)
    sghmc_prior_var: float | None
    #: Laplace: prior_var, noise_var (None: absent, as for SGHMC)
    laplace: dict[str, Any]
    #: surrogates of the config, in its order
    surrogates: tuple[str, ...] = field(default=())

    @property
    def budget(self) -> int:
        return self.n_init + self.q * self.iterations


_ALL = ("gp", "dkl", "ibnn", "hmc", "sghmc", "ensemble", "laplace")
_SYNTH_VAR_B, _REAL_VAR_B = 1.3, 1.6


def _hmc(prior_var, noise_var, n_burn_in, n_samples, step_size, path_length, standardize_y):
    return {
        "prior_var": prior_var,
        "noise_var": noise_var,
        "n_burn_in": n_burn_in,
        "n_samples_per_chain": n_samples,
        "step_size": step_size,
        "path_length": path_length,
        "standardize_y": standardize_y,
    }


def _dkl(dims, pretrain_steps=1000, train_steps=5000, learning_rate=None):
    return {
        "regnet_dims": dims,
        "pretrain_steps": pretrain_steps,
        "train_steps": train_steps,
        "learning_rate": learning_rate,
    }


def _ens(dims, prior_var, noise_var):
    return {"regnet_dims": dims, "prior_var": prior_var, "noise_var": noise_var}


def _lap(prior_var=None, noise_var=None):
    return {"prior_var": prior_var, "noise_var": noise_var}


_W3, _W2, _W4, _W5, _W256 = (128,) * 3, (128,) * 2, (128,) * 4, (100,) * 5, (256,) * 2

#: the study's config files (d3627e6), keyed by bnnbo's problem names. Fields in order: seed,
#: n_init, q, iterations, regnet_dims, hmc, dkl, ibnn_var_b, ensemble, sghmc_prior_var,
#: laplace, surrogates (every config lists all seven)
STUDY: dict[str, StudyConfig] = {
    "branin": StudyConfig(
        1,
        10,
        10,
        9,
        _W3,
        _hmc(10.0, 0.1, 500, 500, 0.02, 0.008, True),
        _dkl(_W3),
        _SYNTH_VAR_B,
        _ens(_W3, 10.0, 1.0),
        None,
        _lap(),
        _ALL,
    ),
    "hartmann6": StudyConfig(
        1,
        10,
        10,
        19,
        _W3,
        _hmc(1.0, 0.1, 500, 500, 0.02, 0.01, True),
        _dkl(_W3),
        _SYNTH_VAR_B,
        _ens(_W3, None, 1.0),
        None,
        _lap(),
        _ALL,
    ),
    "ackley": StudyConfig(
        1,
        10,
        10,
        19,
        _W3,
        _hmc(0.1, 0.1, 500, 500, 0.02, 0.02, True),
        _dkl(_W3, train_steps=1000),
        _SYNTH_VAR_B,
        _ens(_W3, 0.1, 0.1),
        0.1,
        _lap(0.1, 0.1),
        _ALL,
    ),
    "branincurrin": StudyConfig(
        1,
        10,
        5,
        19,
        _W3,
        _hmc(10.0, 0.1, 100, 200, 0.01, 0.01, True),
        _dkl(_W3, pretrain_steps=0),
        _SYNTH_VAR_B,
        _ens(_W3, None, 1.0),
        None,
        _lap(),
        _ALL,
    ),
    "dtlz1": StudyConfig(
        1,
        10,
        10,
        9,
        _W2,
        _hmc(1.0, 1.0, 500, 500, 0.02, 0.08, True),
        _dkl(_W2),
        _SYNTH_VAR_B,
        _ens(_W3, None, 0.1),
        None,
        _lap(),
        _ALL,
    ),
    "dtlz5": StudyConfig(
        1,
        10,
        5,
        20,
        _W2,
        _hmc(1.0, 1.0, 500, 500, 0.02, 0.08, True),
        _dkl(_W2),
        _SYNTH_VAR_B,
        _ens(_W3, None, 0.1),
        None,
        _lap(),
        _ALL,
    ),
    "pde": StudyConfig(
        2,
        5,
        1,
        30,
        _W3,
        _hmc(10.0, 1.0, 500, 500, 0.01, 0.02, True),
        _dkl(_W3),
        _SYNTH_VAR_B,
        _ens(_W3, None, 0.1),
        None,
        _lap(),
        _ALL,
    ),
    "pest": StudyConfig(
        1,
        20,
        4,
        25,
        _W4,
        _hmc(3.0, 10.0, 200, 100, 0.002, 0.01, False),
        _dkl(_W4, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W4, 3.0, 10.0),
        3.0,
        _lap(3.0, 10.0),
        _ALL,
    ),
    "oil": StudyConfig(
        1,
        100,
        10,
        10,
        _W5,
        _hmc(10.0, 0.1, 200, 100, 0.002, 0.01, False),
        _dkl(_W5, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W5, 10.0, 0.1),
        10.0,
        _lap(10.0, 0.1),
        _ALL,
    ),
    "lunar": StudyConfig(
        1,
        50,
        50,
        10,
        _W5,
        _hmc(10.0, 10.0, 200, 100, 0.002, 0.01, False),
        _dkl(_W5, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W5, 10.0, 10.0),
        10.0,
        _lap(10.0, 10.0),
        _ALL,
    ),
    "poly": StudyConfig(
        2,
        100,
        10,
        25,
        _W256,
        _hmc(10.0, 1.0, 200, 100, 0.002, 0.01, False),
        _dkl(_W256, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W256, 10.0, 1.0),
        10.0,
        _lap(10.0, 1.0),
        _ALL,
    ),
    "nndraw": StudyConfig(
        2,
        100,
        10,
        50,
        _W256,
        _hmc(10.0, 1.0, 200, 100, 0.002, 0.01, False),
        _dkl(_W256, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W256, 10.0, 1.0),
        10.0,
        _lap(10.0, 1.0),
        _ALL,
    ),
    "distill": StudyConfig(
        1,
        100,
        10,
        25,
        _W256,
        _hmc(10.0, 1.0, 200, 100, 0.002, 0.01, False),
        _dkl(_W256, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W256, 10.0, 1.0),
        10.0,
        _lap(10.0, 1.0),
        _ALL,
    ),
    "optics": StudyConfig(
        1,
        10,
        10,
        10,
        _W5,
        _hmc(10.0, 10.0, 200, 100, 0.002, 0.01, False),
        _dkl(_W5, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W5, 10.0, 10.0),
        10.0,
        _lap(10.0, 10.0),
        _ALL,
    ),
    "cco": StudyConfig(
        1,
        10,
        5,
        19,
        _W3,
        _hmc(0.1, 0.1, 200, 100, 0.002, 0.01, False),
        _dkl(_W3, learning_rate=1e-4),
        _REAL_VAR_B,
        _ens(_W3, 0.1, 0.1),
        0.1,
        _lap(0.1, 0.1),
        _ALL,
    ),
}

#: what the study fixed in code, per surrogate, as bnnbo setting -> the study's value
#: (the settings are named as bnnbo names them; the ledger says where the meaning differs)
STUDY_CODE: dict[str, dict[str, Any]] = {
    "hmc": {
        "activation": "tanh",
        "pretrain_steps": 1000,
        "pretrain_lr": 1e-3,
        "n_chains": 1,
        "max_leapfrog": 200,
        "target_accept": 0.8,
        "adapt_step_size": True,
        "halve_path_length": True,
        "max_divergent": 1.0,
        "metric": "identity",
        "collapse_output_layer": False,
        "warm_start": False,
        "step_jitter": 0.0,
        "thin": 1,
        "dtype": "float64",
        "observation_noise": False,
    },
    # pybnn's lr = 1e-2 multiplies the gradient as lr**2: bnnbo's lr is that squared step
    "sghmc": {
        "activation": "tanh",
        "lr": 1e-2**2,
        "mdecay": 0.05,
        "epsilon": 1e-10,
        "num_steps": 2000,
        "n_burn_in": 1000,
        "keep_every": 5,
        "batch_size": 5,
        "noise_var_init": 1e-3,
        "noise_prior_center": 1e-6,
        "noise_prior_var": 0.01,
        "learn_noise": True,
        "standardize": True,
        "noise_correction": True,
        "prior_scale": "per_parameter",
        "n_chains": 1,
        "dtype": "float64",
        "observation_noise": False,
    },
    "ensemble": {
        "activation": "tanh",
        "n_members": 10,
        "train_prop": 0.8,
        "train_steps": 1000,
        "lr": 1e-3,
        "standardize_y": False,
        "observation_noise": True,
        "dtype": "float64",
        "warm_start": False,
    },
    "laplace": {
        "activation": "tanh",
        "steps": 1000,
        "lr": 0.1,
        "weight_decay": 1e-3,
        "tune_prior": True,
        "tune_noise": False,
        "prior_tuning": "study",
        "standardize_y": False,
        "warm_start": True,
        "weights": "all",
        "jitter": 1e-4,
        "jitter_units": "raw",
    },
    "dkl": {"activation": "tanh", "pretrain_lr": 1e-3, "lr": 1e-3, "mll_target": "raw", "noise_constraint": "study"},
    "ibnn": {
        "activation": "relu",
        "var_w": 10.0,
        "depth": 3,
        "learn_variances": False,
        "priors": "paper",
        "noise_constraint": "study",
    },
    "gp": {"priors": "paper"},
}

#: the study's fallback where a config leaves prior_var / noise_var out (its later code's 1.0)
FALLBACK_VAR = 1.0

#: the study's loop, fixed in main.py: n_trials, MC samples, acquisition optimiser budget
STUDY_LOOP: dict[str, Any] = {
    "n_trials": 5,
    "mc_samples": 128,
    "num_restarts": 2,
    "raw_samples": 16,
    "maxiter": 10,
    "batch_limit": 1,
    "encoding": "paper",
}


def config_name(problem: str) -> str:
    """The study's config name of a bnnbo problem (``hartmann6`` -> ``hartmann``)."""
    return CONFIG_NAMES.get(problem, problem)


def budget(problem: str) -> dict[str, int]:
    """The study's loop budget of a problem: ``{"n_init", "q", "iterations"}``."""
    c = STUDY[problem]
    return {"n_init": c.n_init, "q": c.q, "iterations": c.iterations}


def _or_fallback(value: float | None) -> float:
    return FALLBACK_VAR if value is None else value


def hmc_presets() -> dict[str, dict[str, Any]]:
    """``paper:<problem>``: the study's model and sampler; ``fast:<problem>``: its model and
    budget with bnnbo's sampler (the settings' defaults otherwise)."""
    out = {}
    for name, c in STUDY.items():
        h = c.hmc
        run = {
            "widths": c.regnet_dims,
            "prior_var": h["prior_var"],
            "noise_std": h["noise_var"],
            "n_burn_in": h["n_burn_in"],
            "n_samples": h["n_samples_per_chain"],
            "step_size": h["step_size"],
            "path_length": h["path_length"],
            "standardize_y": h["standardize_y"],
        }
        out[f"fast:{name}"] = run
        out[f"paper:{name}"] = {**run, **STUDY_CODE["hmc"]}
    return out


def sghmc_presets() -> dict[str, dict[str, Any]]:
    return {
        f"paper:{name}": {"widths": c.regnet_dims, "prior_var": _or_fallback(c.sghmc_prior_var), **STUDY_CODE["sghmc"]}
        for name, c in STUDY.items()
    }


def ensemble_presets() -> dict[str, dict[str, Any]]:
    return {
        f"paper:{name}": {
            "widths": c.ensemble["regnet_dims"],
            "prior_var": _or_fallback(c.ensemble["prior_var"]),
            "noise_std": c.ensemble["noise_var"],
            **STUDY_CODE["ensemble"],
        }
        for name, c in STUDY.items()
    }


def laplace_presets() -> dict[str, dict[str, Any]]:
    """A prior_var / noise_var the config leaves out is 1.0 (the prior_var has no effect
    with the study's prior tuning)."""
    out = {}
    for name, c in STUDY.items():
        lap = c.laplace
        out[f"paper:{name}"] = {
            "widths": c.regnet_dims,
            "prior_var": _or_fallback(lap["prior_var"]),
            "noise_var": _or_fallback(lap["noise_var"]),
            **STUDY_CODE["laplace"],
        }
    return out


def dkl_presets() -> dict[str, dict[str, Any]]:
    out = {}
    for name, c in STUDY.items():
        d = c.dkl
        lr = d["learning_rate"] if d["learning_rate"] is not None else STUDY_CODE["dkl"]["lr"]
        out[f"paper:{name}"] = {
            **STUDY_CODE["dkl"],
            "widths": d["regnet_dims"],
            "pretrain_steps": d["pretrain_steps"],
            "train_steps": d["train_steps"],
            "lr": lr,
        }
    return out


def ibnn_presets() -> dict[str, dict[str, Any]]:
    """``paper:<problem>`` and the study's two kernels, ``paper:synthetic`` / ``paper:realworld``."""
    out = {
        "paper:synthetic": {**STUDY_CODE["ibnn"], "var_b": _SYNTH_VAR_B},
        "paper:realworld": {**STUDY_CODE["ibnn"], "var_b": _REAL_VAR_B},
    }
    for name, c in STUDY.items():
        out[f"paper:{name}"] = {**STUDY_CODE["ibnn"], "var_b": c.ibnn_var_b}
    return out


def gp_presets() -> dict[str, dict[str, Any]]:
    return {f"paper:{name}": dict(STUDY_CODE["gp"]) for name in STUDY}


PRESETS = {
    "gp": gp_presets,
    "ibnn": ibnn_presets,
    "dkl": dkl_presets,
    "hmc": hmc_presets,
    "sghmc": sghmc_presets,
    "ensemble": ensemble_presets,
    "laplace": laplace_presets,
}
