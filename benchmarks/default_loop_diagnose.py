"""Why does a q = 1 default run stop in a local basin? One run of bnnbo's default on a problem
and seed; at chosen iterations, compare

* the acquisition value (LogEI) the loop's optimiser reached with a dense search of the same
  LogEI (Sobol points, then L-BFGS-B from the best of them): did the optimiser miss the maximum?
* the model's LogEI, posterior mean and sd at the problem's optimum (if known): does the model
  itself see no improvement there?
* the same for Optuna's GP (optuna._gp, GPSampler's fit and prior) fitted on the same data.

    python benchmarks/default_loop_diagnose.py --problem hartmann6 --seed 5 --at 10 20 30
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from scipy.optimize import minimize

from bnnbo import Optimizer, get_problem
from bnnbo.exact_logei import log_ei

OPTIMA = {  # unit-cube optima of problems whose domain is the unit cube
    "hartmann6": [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
}


def dense_max(f, d: int, n: int, starts: int, seed: int) -> tuple[float, np.ndarray]:
    """max of f (batched, n x d -> n) over [0,1]^d: n Sobol points, L-BFGS-B from the best ``starts``."""
    X = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(n, dtype=torch.float64)
    with torch.no_grad():
        v = torch.cat([f(c) for c in X.split(8192)])
    best_v, best_x = float(v.max()), X[v.argmax()].numpy()
    for i in v.topk(starts).indices.tolist():

        def neg(z):
            x = torch.from_numpy(z).reshape(1, d).requires_grad_(True)
            val = f(x).sum()
            (g,) = torch.autograd.grad(val, x)
            return -val.item(), -g.reshape(-1).numpy()

        r = minimize(neg, X[i].numpy(), jac=True, method="L-BFGS-B", bounds=[(0, 1)] * d)
        if -r.fun > best_v:
            best_v, best_x = float(-r.fun), r.x
    return best_v, best_x


def optuna_gp(U: torch.Tensor, y_max: torch.Tensor):
    """GPSampler's GP on the same data: outputs standardised with the population sd."""
    from optuna._gp import gp as ogp
    from optuna._gp import prior

    y = y_max.numpy()
    ys = (y - y.mean()) / max(y.std(), 1e-10)
    gpr = ogp.fit_kernel_params(
        X=U.numpy(),
        Y=ys,
        is_categorical=np.zeros(U.shape[1], dtype=bool),
        log_prior=prior.default_log_prior,
        minimum_noise=prior.DEFAULT_MINIMUM_NOISE_VAR,
        deterministic_objective=False,
    )
    return gpr, float(ys.max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default="hartmann6")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--at", type=int, nargs="+", default=[10, 20, 30], help="iterations (after n_init) to inspect")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--dense", type=int, default=100_000)
    ap.add_argument("--starts", type=int, default=30)
    ap.add_argument("--options", default="{}", help="Optimizer keyword arguments (JSON)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from optuna._gp.acqf import logei as optuna_logei

    problem = get_problem(args.problem)
    d = problem.space.dim
    opt = Optimizer(problem.space, seed=args.seed, n_init=10, q=1, maximize=False, **json.loads(args.options))
    X = opt.ask(10)
    opt.tell(X, -problem.evaluate(X))
    xstar = torch.tensor([OPTIMA[args.problem]], dtype=torch.float64) if args.problem in OPTIMA else None
    rows = []
    for it in range(1, args.iterations + 1):
        x = opt.ask()
        if it in args.at:
            U = opt.space.to_unit(opt.X, opt.encoding)
            y_max = -opt.Y[:, 0]
            model = opt.last_model
            acq = log_ei(model, y_max.max())
            u = opt.space.to_unit(x, opt.encoding)
            with torch.no_grad():
                a_loop = float(acq(u.unsqueeze(0)))
            a_dense, x_dense = dense_max(lambda Z: acq(Z.unsqueeze(-2)), d, args.dense, args.starts, it)
            base = model.covar_module.base_kernel
            row = {
                "iter": it,
                "n": U.shape[0],
                "regret so far": float(opt.Y.min()) + problem.optimal_value,
                "logEI loop": round(a_loop, 3),
                "logEI dense": round(a_dense, 3),
                "x loop": [round(v, 3) for v in u.reshape(-1).tolist()],
                "x dense": [round(v, 3) for v in x_dense.tolist()],
                "lengthscales": [round(v, 3) for v in base.lengthscale.reshape(-1).tolist()],
                "outputscale": round(float(model.covar_module.outputscale), 3),
                "noise": float(model.likelihood.noise),
            }
            gpr, f0 = optuna_gp(U, y_max)

            def o_acq(Z):
                m, v = gpr.posterior(Z)
                return optuna_logei(m, v + 1e-12, f0)

            o_dense, o_x = dense_max(o_acq, d, args.dense, args.starts, it)
            row |= {
                "optuna lengthscales": [round(v, 3) for v in gpr.length_scales.tolist()],
                "optuna kernel scale": round(float(gpr.kernel_scale), 3),
                "optuna noise": float(gpr.noise_var),
                "optuna logEI dense": round(o_dense, 3),
                "optuna x dense": [round(v, 3) for v in o_x.tolist()],
            }
            if xstar is not None:
                with torch.no_grad():
                    post = model.posterior(xstar)
                    sd_y = model.outcome_transform.stdvs.reshape(())
                    mu_y = model.outcome_transform.means.reshape(())
                    m, s = (post.mean.reshape(()) - mu_y) / sd_y, post.variance.reshape(()).sqrt() / sd_y
                    best_std = (y_max.max() - mu_y) / sd_y
                    om, ov = gpr.posterior(xstar)
                row |= {
                    "at optimum: logEI": round(float(acq(xstar.unsqueeze(0))), 3),
                    "at optimum: z (mean - best) / sd": round(float((m - best_std) / s), 2),
                    "at optimum: sd": round(float(s), 4),
                    "optuna at optimum: logEI": round(float(o_acq(xstar)), 3),
                    "optuna at optimum: z": round(float((om - f0) / ov.sqrt()), 2),
                    "optuna at optimum: sd": round(float(ov.sqrt()), 4),
                }
            print(json.dumps(row), flush=True)
            rows.append(row)
        opt.tell(x, -problem.evaluate(x))
    print(json.dumps({"final regret": float(opt.Y.min()) + problem.optimal_value}))
    table(rows, args, float(opt.Y.min()) + problem.optimal_value)


def table(rows: list[dict], args, final: float) -> None:
    at = "at optimum: logEI" in rows[0] if rows else False
    print(f"\n{args.problem}, seed {args.seed}, final regret {final:.3g}\n")
    head = ["iteration", "regret so far", "LogEI reached", "dense LogEI max", "output scale", "noise"]
    head += ["z at optimum", "LogEI at optimum"] if at else []
    head += ["GPSampler's GP: kernel scale", "noise", "dense LogEI max"]
    head += ["z at optimum", "LogEI at optimum"] if at else []
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for r in rows:
        cells = [r["iter"], f"{r['regret so far']:.3g}", r["logEI loop"], r["logEI dense"], r["outputscale"]]
        cells += [f"{r['noise']:.1e}"]
        cells += [r["at optimum: z (mean - best) / sd"], r["at optimum: logEI"]] if at else []
        cells += [r["optuna kernel scale"], f"{r['optuna noise']:.1e}", r["optuna logEI dense"]]
        cells += [r["optuna at optimum: z"], r["optuna at optimum: logEI"]] if at else []
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
