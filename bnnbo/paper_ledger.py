"""docs/paper-fidelity.md, generated from bnnbo.paper's tables and the surrogates' settings.

Run ``python -m bnnbo.paper_ledger > docs/paper-fidelity.md``; tests/test_paper.py checks the
committed file is what this prints. Every number comes from the tables: the study's values
(``paper.STUDY`` / ``paper.STUDY_CODE``), bnnbo's paper values (the resolved ``paper:*``
presets) and bnnbo's defaults (the settings dataclasses).
"""

from __future__ import annotations

from typing import Any

from bnnbo import paper

SURROGATES = ("gp", "ibnn", "dkl", "hmc", "sghmc", "ensemble", "laplace")
_T = "tests/test_paper.py::"

#: the test that pins a (surrogate, setting); anything else is pinned by the ledger check
TESTS: dict[tuple[str, str], str] = {
    ("sghmc", "lr"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "mdecay"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "epsilon"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "num_steps"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "n_burn_in"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "keep_every"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "batch_size"): _T + "test_item1_one_sghmc_update_is_pybnns_with_lr_1e_2",
    ("sghmc", "prior_scale"): _T + "test_item2_sghmc_gradient_is_the_gradient_of_pybnns_loss",
    ("sghmc", "noise_prior_center"): _T + "test_item2_sghmc_gradient_is_the_gradient_of_pybnns_loss",
    ("sghmc", "noise_prior_var"): _T + "test_item2_sghmc_gradient_is_the_gradient_of_pybnns_loss",
    ("dkl", "mll_target"): _T + "test_item3_dkl_marginal_likelihood_target_is_raw_y",
    ("hmc", "halve_path_length"): _T + "test_item4_hmc_halves_the_path_length_in_burn_in",
    ("hmc", "max_divergent"): _T + "test_item5_paper_hmc_records_divergences_instead_of_raising",
    ("laplace", "prior_tuning"): _T + "test_item6_laplace_tunes_the_prior_as_laplace_torch_did",
    ("laplace", "jitter"): _T + "test_item6_laplace_jitter_is_1e_4_in_raw_units",
    ("laplace", "jitter_units"): _T + "test_item6_laplace_jitter_is_1e_4_in_raw_units",
    ("ensemble", "widths"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("ensemble", "prior_var"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("ensemble", "noise_std"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("ensemble", "n_members"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("ensemble", "train_prop"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("ensemble", "train_steps"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("ensemble", "standardize_y"): _T + "test_item8_ensemble_presets_are_each_configs_own",
    ("gp", "priors"): _T + "test_item11_noise_bound_has_no_transform_in_paper_mode",
    ("ibnn", "noise_constraint"): _T + "test_item11_noise_bound_has_no_transform_in_paper_mode",
    ("dkl", "noise_constraint"): _T + "test_item11_noise_bound_has_no_transform_in_paper_mode",
}
_LEDGER_TEST = _T + "test_the_committed_ledger_is_up_to_date"
_SPEC_TEST = _T + "test_hmc_dkl_and_ibnn_presets_match_the_study_spec"
for _f in (
    "widths",
    "prior_var",
    "noise_std",
    "n_burn_in",
    "n_samples",
    "step_size",
    "path_length",
    "standardize_y",
    "n_chains",
    "metric",
    "collapse_output_layer",
    "dtype",
    "pretrain_steps",
):
    TESTS[("hmc", _f)] = _SPEC_TEST
for _f in ("widths", "lr", "train_steps", "pretrain_steps"):
    TESTS[("dkl", _f)] = _SPEC_TEST
for _f in ("var_w", "var_b", "depth", "activation"):
    TESTS[("ibnn", _f)] = _SPEC_TEST
for _s, _fs in (("sghmc", ("widths", "prior_var")), ("laplace", ("widths", "prior_var", "noise_var"))):
    for _f in _fs:
        TESTS[(_s, _f)] = _T + "test_sghmc_and_laplace_presets_are_each_configs_own"
_LOOP_TEST = _T + "test_the_paper_loop_settings_are_the_studys"

#: how the study's value is to be read where a bnnbo name or meaning differs
NOTES: dict[tuple[str, str], str] = {
    ("sghmc", "lr"): "pybnn lr = 0.01, squared in its update",
    ("sghmc", "prior_scale"): "pybnn divides the log prior by P",
    ("sghmc", "standardize"): "pybnn z-scores x and y",
    ("hmc", "max_divergent"): "no divergence abort",
    ("hmc", "noise_std"): "config noise_var, used as a std",
    ("hmc", "halve_path_length"): "halved while path / step > 200",
    ("hmc", "metric"): "identity mass",
    ("hmc", "collapse_output_layer"): "all weights sampled",
    ("hmc", "warm_start"): "fresh chain every fit",
    ("ensemble", "noise_std"): "config noise_var, used as a std",
    ("ensemble", "prior_var"): "config prior_var; a precision at d3627e6",
    ("laplace", "prior_tuning"): "precision reset to 1.0, 50 Adam steps, lr 0.1",
    ("laplace", "prior_var"): "no effect: reset before tuning",
    ("laplace", "noise_var"): "config noise_var, a variance",
    ("laplace", "jitter_units"): "added to the raw-unit covariance",
    ("dkl", "mll_target"): "raw train_y in all three fit paths",
    ("dkl", "noise_constraint"): "GreaterThan(1e-4, transform=None)",
    ("ibnn", "noise_constraint"): "GreaterThan(1e-4, transform=None)",
    ("gp", "priors"): "BoTorch 0.8.5 defaults, GreaterThan(1e-4, transform=None)",
}


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (tuple, list)):
        if v and all(w == v[0] for w in v):
            return f"{v[0]} x {len(v)}"
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def _study_per_problem(sur: str, c: paper.StudyConfig) -> dict[str, str]:
    """The study's config values of one problem, by bnnbo setting name."""
    fb = f"absent: {paper.FALLBACK_VAR:g} (later code)"

    def var(v):
        return fb if v is None else _fmt(v)

    if sur == "hmc":
        h = c.hmc
        return {
            "widths": _fmt(c.regnet_dims),
            "prior_var": _fmt(h["prior_var"]),
            "noise_std": _fmt(h["noise_var"]),
            "n_burn_in": _fmt(h["n_burn_in"]),
            "n_samples": _fmt(h["n_samples_per_chain"]),
            "step_size": _fmt(h["step_size"]),
            "path_length": _fmt(h["path_length"]),
            "standardize_y": _fmt(h["standardize_y"]),
        }
    if sur == "sghmc":
        return {"widths": _fmt(c.regnet_dims), "prior_var": var(c.sghmc_prior_var)}
    if sur == "ensemble":
        e = c.ensemble
        return {"widths": _fmt(e["regnet_dims"]), "prior_var": var(e["prior_var"]), "noise_std": _fmt(e["noise_var"])}
    if sur == "laplace":
        lap = c.laplace
        return {"widths": _fmt(c.regnet_dims), "prior_var": var(lap["prior_var"]), "noise_var": var(lap["noise_var"])}
    if sur == "dkl":
        d = c.dkl
        lr = d["learning_rate"]
        return {
            "widths": _fmt(d["regnet_dims"]),
            "pretrain_steps": _fmt(d["pretrain_steps"]),
            "train_steps": _fmt(d["train_steps"]),
            "lr": f"{paper.STUDY_CODE['dkl']['lr']:g} (code default)" if lr is None else _fmt(lr),
        }
    if sur == "ibnn":
        return {"var_b": _fmt(c.ibnn_var_b)}
    return {}


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _surrogate_section(sur: str) -> list[str]:
    from bnnbo.surrogates import get_surrogate, surrogate_class

    cls = surrogate_class(sur)
    defaults = cls.Settings.defaults()
    resolved = {name: get_surrogate(sur, preset=f"paper:{name}").settings.to_dict() for name in paper.STUDY}
    per_problem = sorted(
        {k for c in paper.STUDY.values() for k in _study_per_problem(sur, c)}, key=list(defaults).index
    )
    code = paper.STUDY_CODE[sur]
    out = [
        f"### {sur}",
        "",
        "Settings the same on every problem:",
        "",
        _row("setting", "study", "bnnbo paper", "bnnbo default", "pinned by"),
        _row(*["---"] * 5),
    ]
    for field, default in defaults.items():
        if field in per_problem:
            continue
        values = {_fmt(r[field]) for r in resolved.values()}
        assert len(values) == 1, (sur, field, values)
        study = _fmt(code[field]) if field in code else "not a setting of the study"
        note = NOTES.get((sur, field))
        study = f"{study} ({note})" if note else study
        test = TESTS.get((sur, field), _LEDGER_TEST) if field in code else "—"
        out.append(_row(f"`{field}`", study, values.pop(), _fmt(default), test))
    if per_problem:
        out += [
            "",
            "Per problem (the study's config values):",
            "",
            _row("problem", "setting", "study", "bnnbo paper", "bnnbo default", "pinned by"),
            _row(*["---"] * 6),
        ]
        for name, c in paper.STUDY.items():
            in_study = _study_per_problem(sur, c)
            for field in per_problem:
                note = NOTES.get((sur, field))
                s = in_study.get(field, "—")
                s = f"{s} ({note})" if note and name == next(iter(paper.STUDY)) else s
                out.append(
                    _row(
                        name,
                        f"`{field}`",
                        s,
                        _fmt(resolved[name][field]),
                        _fmt(defaults[field]),
                        TESTS.get((sur, field), _LEDGER_TEST),
                    )
                )
    return out + [""]


def _loop_section() -> list[str]:
    from bnnbo.acquisition import NUM_MC_SAMPLES, OPTIMIZER_PRESETS

    pp, dp, loop = OPTIMIZER_PRESETS["paper"], OPTIMIZER_PRESETS["default"], paper.STUDY_LOOP
    opt = "tests/test_optimizer.py::test_paper_mode_runs_single_and_multi_objective"
    rows = [
        ("single objective", "qEI, best_f = best observation", "qEI, best_f = best observation", "qLogNEI", opt),
        (
            "multi-objective",
            "qEHVI, partitioning of the posterior mean at the data",
            "qEHVI, partitioning of the observed Y",
            "qLogNEHVI",
            opt,
        ),
        ("MC samples", _fmt(loop["mc_samples"]), _fmt(NUM_MC_SAMPLES), _fmt(NUM_MC_SAMPLES), _LOOP_TEST),
        ("num_restarts", _fmt(loop["num_restarts"]), _fmt(pp.num_restarts), _fmt(dp.num_restarts), _LOOP_TEST),
        ("raw_samples", _fmt(loop["raw_samples"]), _fmt(pp.raw_samples), _fmt(dp.raw_samples), _LOOP_TEST),
        ("maxiter", _fmt(loop["maxiter"]), _fmt(pp.maxiter), _fmt(dp.maxiter), _LOOP_TEST),
        ("batch_limit", _fmt(loop["batch_limit"]), _fmt(pp.batch_limit), _fmt(dp.batch_limit), _LOOP_TEST),
        (
            "discrete levels",
            "level i at i / (k - 1e-6), floored back",
            'the same (`encoding="paper"`)',
            "cell centre (i + 0.5) / k, mixed optimiser",
            _T + "test_item10_the_paper_loop_feeds_the_surrogate_the_studys_encoding",
        ),
        (
            "trials",
            f"{loop['n_trials']}, in sequence",
            "seeds = 5 in configs/paper (0-4)",
            "—",
            "tests/test_study.py::test_paper_study_files_are_valid",
        ),
    ]
    out = ["## The loop", "", _row("setting", "study", "bnnbo paper", "bnnbo default", "pinned by"), _row(*["---"] * 5)]
    out += [_row(*r) for r in rows]
    out += [
        "",
        ("Per problem (the study's config; bnnbo's paper budget is the same table, `Problem.paper_budget`):"),
        "",
        _row("problem", "study config", "torch seed", "n_init", "q", "iterations", "budget", "pinned by"),
        _row(*["---"] * 8),
    ]
    for name, c in paper.STUDY.items():
        out.append(
            _row(
                name,
                paper.config_name(name),
                _fmt(c.seed),
                _fmt(c.n_init),
                _fmt(c.q),
                _fmt(c.iterations),
                _fmt(c.budget),
                f"{_LOOP_TEST}, " + _T + "test_item12_the_studys_seeds_are_recorded_and_documented",
            )
        )
    return out + [""]


HEADER = """\
<!-- generated by `python -m bnnbo.paper_ledger`; edit bnnbo/paper.py or bnnbo/paper_ledger.py -->
# Paper fidelity ledger

bnnbo's paper mode (`acquisition = "paper"`, the `paper:<problem>` presets, `configs/paper/*.toml`)
against the study's code: *A Study of Bayesian Neural Network Surrogates for Bayesian Optimization*
(Li, Rudner & Wilson, ICLR 2024), bnn-bo at its figure commit d3627e6 and the pybnn fork it pins
(3914f30). One row per setting: the study's value, bnnbo's paper value, bnnbo's default, and the
test that pins it. Every value comes from one table, `bnnbo/paper.py` (`STUDY`: the study's config
files, keyed by bnnbo problem names; `STUDY_CODE`: what its code fixed). A preset may be asked for
by the problem name or the study's config name (`paper:hartmann6` = `paper:hartmann`, `paper:distill`
= `paper:kd`, `paper:nndraw` = `paper:bnn_400`). "—": not applicable. Rows pinned by
`test_the_committed_ledger_is_up_to_date` are values copied from the table into the presets; that
test fails when the presets, the table or this file disagree.

"""

DIFFERENCES = """\
## Deliberate differences: bnnbo's defaults

The defaults are bnnbo's own where the study's choice is a weakness; paper mode restores the study's.

- **SGHMC step** (`lr`): pybnn squares the lr it is given, so the study's squared step was 1e-4;
  bnnbo's default keeps 1e-2 (as squared step), which mixes in the 2,000 steps the study allowed.
- **SGHMC prior** (`prior_scale`): pybnn divides the log weight prior by the parameter count P, so
  its prior is N(0, prior_var * P), nearly flat; bnnbo's default is the N(0, prior_var) its name says.
- **HMC**: bnnbo's default sampler integrates the output layer out, runs float32 chains with a
  per-layer mass, a jittered step and warm starts, and aborts when over half the kept transitions
  diverge (a sign the samples are useless); it keeps the path length fixed.
- **Ensemble**: the default trains 500 full-batch Adam steps at lr 2e-3 (the study: 1000 at
  1e-3), on standardised y: half the fit time, and short BO runs found as much or more.
- **DKL**: the default trains the marginal likelihood on the standardised targets the GP predicts
  with (the study mixed raw targets for training with standardised ones for prediction).
- **Laplace**: the default tunes prior and noise variance by L-BFGS on the evidence from the
  settings' values, on standardised y, with a 1e-8 standardised jitter.
- **Noise bound**: the default keeps gpytorch's softplus transform (Adam cannot step past it).
- **Discrete levels**: the default encodes a level at its cell centre and optimises over valid
  points only (BoTorch's mixed optimiser).
- **Acquisition**: the default is qLogNEI / qLogNEHVI with a larger optimiser budget.

## What paper mode does not reproduce

- **Seeds (not bit-identical).** The study called `torch.manual_seed(1)` once per config (2 for pde,
  poly and bnn_400), ran its trials in sequence from that one global stream, and drew the posterior
  samples' indices from the unseeded `np.random`, with torch 1.12 and BoTorch 0.8.5 on CUDA. bnnbo
  derives every stream of a run from (seed, evaluations so far) so runs can resume and run in
  parallel, on different library versions; a run cannot be bit-identical to the study's, only the
  same experiment. The study's seeds are in the per-problem loop table above.
- **qEHVI partitioning**: the study partitioned the posterior mean at the training inputs; bnnbo
  partitions the observed values (the hypervolume improvement is defined on what was observed).
- **Laplace Hessian**: the study used laplace-torch's KFAC; bnnbo uses the exact GGN (function-space,
  N x N), so its evidence and predictive are those KFAC approximates.
- **Ensemble quirks**: at d3627e6 the ensemble's `prior_var` acted as a precision and its predictive
  added `noise_var` as a variance while its likelihood used it as a std; bnnbo uses the config's
  `prior_var` as a variance and `noise_std` as a std throughout (the study's later code fixed the first).
- **SGHMC minibatches**: pybnn cycles shuffled epochs and keeps every 5th state after step 1000
  (199 networks); bnnbo draws each minibatch afresh and keeps 200. The log-noise parameter: one per
  output here, one shared in pybnn (the same for a single objective).
- **DKL noise bound under Adam**: the study's `GreaterThan(1e-4, transform=None)` is enforced by
  nothing under its plain Adam; bnnbo projects the noise back onto the bound after each step (on
  tiny designs Adam otherwise drove it below 1e-4 and the kernel matrix singular).
- **DKL arithmetic (rounding only)**: bnnbo computes the study's DKL objective (gpytorch's exact
  marginal likelihood of the raw y plus the three Gamma log priors, per point, on the same raw
  parameters and transforms) in plain torch with the GP part's gradient written out, and steps
  Adam through torch's fused kernel; only the order of floating-point operations differs from
  gpytorch's and `torch.optim.Adam`'s (value within 1e-12 and gradient within 1e-9 relative, a 30-step
  fit's parameters to 1e-9: tests/surrogates/test_dkl.py). Several objectives: one fit each on
  its loss divided by their number, which is the study's joint `SumMarginalLogLikelihood`
  training (Adam is per parameter; `test_per_objective_fits_equal_the_studys_joint_sum_mll_training`).
  The Gamma priors' constants and the 1e-4 noise bound are float32 numbers widened to float64
  (1.1 is 1.10000002384...), as in bnnbo's other paper-mode GPs; the study, with float64 as
  torch's default dtype, built them in float64.
- **Knowledge distillation**: bnnbo's student is smaller (2,390 vs 6,230 parameters, smaller images;
  the study's teacher and MNIST files are not available); see docs/problems.md.
- **nndraw**: the study's function is its parameter file; bnnbo does not ship it (the study's
  repository has no licence). With `get_problem("nndraw", weights=path)` or `BNNBO_NNDRAW_WEIGHTS`
  it is the study's function (pinned by `test_item9_nndraw_with_the_study_file_is_the_studys_function`);
  without, a seeded draw of the same network. poly is bnnbo's own seeded draw.
- **Problems**: PDE, pest, oil, lunar and distill are bnnbo's implementations (docs/problems.md says
  where each differs); optics and cco are not available, though their presets exist.
- **Non-finite gradients in the acquisition search**: when a restart's gradient is NaN (BoTorch
  falls back to an eigendecomposition for a posterior covariance that is not numerically positive
  definite, and its backward is NaN at repeated eigenvalues), that restart stops where it is; the
  study's BoTorch raised, which ended the trial. Runs that never meet one are unchanged (the guard
  is the identity on finite gradients). Found in the campaign: paper-mode I-BNN on dtlz1, seed 0,
  first batch (`tests/test_acquisition_guard.py`).
"""


def ledger() -> str:
    parts = [HEADER]
    parts += _loop_section()
    parts += ["## Surrogates", ""]
    for sur in SURROGATES:
        parts += _surrogate_section(sur)
    return "\n".join(parts) + "\n" + DIFFERENCES


if __name__ == "__main__":
    print(ledger(), end="")
