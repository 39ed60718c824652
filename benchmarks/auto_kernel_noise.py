"""Why noise="low" with BoTorch's RBF kernel broke `auto`, and why the Matern GP does not.

On the 1-D Matern-5/2 draws of tests/surrogates/test_auto.py (lengthscale 0.05, 40 training and
300 test points, seeds 0 and 1), for each (kernel, noise) pair of the gp: the summed test NLL of
gp and ibnn, auto's choice and k-fold scores (mean held-out log density, higher is better) and
the gp's fitted noise (standardised units).

    python benchmarks/auto_kernel_noise.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import bnnbo.surrogates.gaussian.gp as gp_module
from bnnbo import get_surrogate
from bnnbo.surrogates.combined.auto import score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "surrogates"))
from test_auto import _matern_draw  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    print(
        "| gp kernel | gp noise | seed | test NLL gp | test NLL ibnn | auto's choice | k-fold score gp | ibnn | gp noise fitted |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|---:|")
    for kernel, noise in [("botorch", "learned"), ("botorch", "low"), ("matern", "low")]:
        # auto builds its candidates with the defaults, so the defaults are what is varied
        gp_module.DEFAULT_KERNEL, gp_module.DEFAULT_NOISE = kernel, noise
        for seed in (0, 1):
            X, Y, Xt, Yt = _matern_draw(40, 300, seed)
            nll = {c: sum(score(get_surrogate(c).fit(X, Y), Xt, Yt, Y)["nll"]) for c in ("gp", "ibnn")}
            auto = get_surrogate("auto", candidates=["ibnn", "gp"], holdout="kfold")
            auto.fit(X, Y, seed=seed)
            s = auto.diagnostics_["scores"]
            fitted = get_surrogate("gp").fit(X, Y).likelihood.noise.item()
            fmt = lambda v: "failed" if v is None else f"{v:.2f}"  # noqa: E731
            print(
                f"| {kernel} | {noise} | {seed} | {nll['gp']:.1f} | {nll['ibnn']:.1f} | {auto.diagnostics_['choice']} "
                f"| {fmt(s.get('gp'))} | {fmt(s.get('ibnn'))} | {fitted:.2g} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
