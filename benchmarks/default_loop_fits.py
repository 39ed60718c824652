"""The q = 1 default's GP and GPSampler's parts of it, fitted on the same data: the data of
bnnbo's default run on Hartmann6 (seed, iterations) at that point. Per variant: output scale,
constant mean, noise, lengthscales, the posterior sd and LogEI at the global optimum, and the
value of GPSampler's own objective (negative log marginal likelihood + its log prior, lower is
better) at the variant's hyperparameters; then GPSampler's own fit (optuna._gp).

    python benchmarks/default_loop_fits.py --seed 5 --iterations 20
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bnnbo import Optimizer, get_problem, get_surrogate
from bnnbo.exact_logei import log_ei

OPTIMUM = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
VARIANTS = {
    "default": {},
    "zero mean": {"mean": "zero"},
    "inverse-square prior": {"lengthscale_prior": "inverse-square"},
    "zero mean + inverse-square prior": {"mean": "zero", "lengthscale_prior": "inverse-square"},
    "noise starts at 1": {"initial_noise": 1.0},
    "all three (GPSampler's GP)": {"mean": "zero", "lengthscale_prior": "inverse-square", "initial_noise": 1.0},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from optuna._gp import gp as ogp
    from optuna._gp import prior as oprior

    p = get_problem("hartmann6")
    opt = Optimizer(p.space, seed=args.seed, n_init=10, q=1, maximize=False)
    X = opt.ask(10)
    opt.tell(X, -p.evaluate(X))
    for _ in range(args.iterations):
        x = opt.ask()
        opt.tell(x, -p.evaluate(x))
    U, y = opt.space.to_unit(opt.X, opt.encoding), -opt.Y
    ys = y[:, 0].numpy()
    ys = (ys - ys.mean()) / ys.std()
    xs = torch.tensor([OPTIMUM], dtype=torch.float64)

    def optuna_loss(ls, scale, noise) -> float:
        g = ogp.GPRegressor(
            torch.zeros(6, dtype=torch.bool),
            U,
            torch.from_numpy(ys),
            torch.as_tensor(ls, dtype=torch.float64).reshape(-1).pow(-2),
            torch.as_tensor(float(scale), dtype=torch.float64),
            torch.as_tensor(float(noise), dtype=torch.float64),
        )
        return float(-g.marginal_log_likelihood() - oprior.default_log_prior(g))

    print(f"hartmann6, seed {args.seed}, n = {U.shape[0]}, regret so far {float(opt.Y.min()) + p.optimal_value:.3g}\n")
    print(
        "| GP | output scale | mean | noise | lengthscales | sd at optimum | LogEI at optimum | GPSampler's objective |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for name, settings in VARIANTS.items():
        gp = get_surrogate("gp", warm_start=False, **settings).fit(U, y, seed=0)
        k = gp.covar_module
        with torch.no_grad():
            sd = gp.posterior(xs).variance.sqrt().item() / gp.outcome_transform.stdvs.item()
            a = log_ei(gp, y.max())(xs.unsqueeze(0)).item()
        mean = float(gp.mean_module.constant.detach()) if hasattr(gp.mean_module, "constant") else 0.0
        ls = k.base_kernel.lengthscale.detach().reshape(-1)
        print(
            f"| {name} | {k.outputscale.item():.3f} | {mean:.2f} | {gp.likelihood.noise.item():.1e} | "
            f"{', '.join(f'{v:.2f}' for v in ls.tolist())} | {sd:.3f} | {a:.2f} | "
            f"{optuna_loss(ls, k.outputscale.detach(), gp.likelihood.noise.detach()):.2f} |"
        )
    gpr = ogp.fit_kernel_params(
        X=U.numpy(),
        Y=ys,
        is_categorical=np.zeros(6, dtype=bool),
        log_prior=oprior.default_log_prior,
        minimum_noise=oprior.DEFAULT_MINIMUM_NOISE_VAR,
        deterministic_objective=False,
    )
    _, var = gpr.posterior(xs)
    print(
        f"| GPSampler's fit (optuna._gp) | {float(gpr.kernel_scale):.3f} | 0 | {float(gpr.noise_var):.1e} | "
        f"{', '.join(f'{v:.2f}' for v in gpr.length_scales.tolist())} | {var.sqrt().item():.3f} | - | "
        f"{optuna_loss(gpr.length_scales, gpr.kernel_scale, gpr.noise_var):.2f} |"
    )


if __name__ == "__main__":
    main()
