"""One-off check of the acquisition optimiser's knobs on a sample model: per variant "K:M" (K
networks in the first stage, or "none" for the one-stage search; L-BFGS-B maxiter M) the time
and the value reached under iteration_cost.py's reference acquisition, same fit and seed.

    python benchmarks/acq_stage_check.py hmc 100,10 3 none:200,none:60,none:30,16:200,16:60,32:60
"""

import dataclasses
import json
import os
import sys
import time
import warnings

import torch

from bnnbo.acquisition import OPTIMIZER_PRESETS, build_acquisition, optimize_acquisition
from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate

sys.path.insert(0, os.path.dirname(__file__))
from iteration_cost import reference_acquisition


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    problem, q = get_problem("hartmann6"), 10
    sname, ns, seeds = sys.argv[1], [int(v) for v in sys.argv[2].split(",")], range(int(sys.argv[3]))
    variants = [v.split(":") for v in sys.argv[4].split(",")]
    for n in ns:
        for seed in seeds:
            X = problem.space.sobol(n, seed=seed)
            U, Y = problem.space.to_unit(X), problem.evaluate(X)
            sur, state = get_surrogate(sname), None
            if sname == "hmc" and n - q >= 2:  # warm start, as in BO
                sur.fit(U[: n - q], Y[: n - q], seed=seed + 1)
                state = sur.state_
            model = sur.fit(U, Y, seed=seed, state=state)
            for coarse, maxiter in variants:
                model.coarse_samples = None if coarse == "none" else int(coarse)
                preset = dataclasses.replace(OPTIMIZER_PRESETS["default"], maxiter=int(maxiter))
                with torch.random.fork_rng():
                    torch.manual_seed(seed)
                    t = time.perf_counter()
                    acq = build_acquisition(model, U, Y, mode="default", ref_point=None, seed=seed)
                    cand = optimize_acquisition(acq, problem.space, q, preset, "proper")
                    seconds = time.perf_counter() - t
                model.coarse_samples = None
                with torch.no_grad():
                    value = float(reference_acquisition(model, U, Y, seed)(cand.unsqueeze(0)))
                print(
                    json.dumps(
                        {
                            "surrogate": sname,
                            "n": n,
                            "seed": seed,
                            "coarse": coarse,
                            "maxiter": maxiter,
                            "seconds": round(seconds, 2),
                            "value": round(value, 4),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
