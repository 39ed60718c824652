"""How good is `bnnbo plan`'s estimate? Estimate, then run the study and time it, side by side.

Each repeat: the shipped cost table's estimate, a fresh measurement of the costs
(benchmarks/plan_costs.py into a temporary table) and its estimate, then the study run for real
(`bnnbo run STUDY --quiet` in a fresh process, a fresh store) and timed; printed as
measured / estimate ratios with the load average, since the timings depend on what else runs.

    python benchmarks/plan_check.py [configs/demo.toml] [--repeats 1] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bnnbo.plan import CostTable, plan_study
from bnnbo.study import load_study

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", nargs="?", default="configs/demo.toml")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--workers", type=int, default=1, help="1: in-process; N > 1: --workers N")
    args = p.parse_args(argv)
    study = load_study(args.study)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    shipped = plan_study(study, None, CostTable.load(), workers=args.workers).wall_seconds
    print(
        f"{'repeat':>6} {'load':>5} {'shipped est s':>14} {'fresh est s':>12} {'measured s':>11} "
        f"{'meas/shipped':>13} {'meas/fresh':>11}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            table = Path(tmp) / f"costs{r}.json"
            subprocess.run(
                [sys.executable, str(HERE / "plan_costs.py"), args.study, "--out", str(table)],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            fresh = plan_study(study, None, CostTable.load(table), workers=args.workers).wall_seconds
            load = os.getloadavg()[0]
            cmd = [sys.executable, "-m", "bnnbo.cli", "run", args.study, "--db", str(Path(tmp) / f"s{r}.db"), "--quiet"]
            if args.workers > 1:
                cmd += ["--workers", str(args.workers)]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            measured = time.perf_counter() - t
            print(
                f"{r:>6} {load:>5.1f} {shipped:>14.0f} {fresh:>12.0f} {measured:>11.0f} "
                f"{measured / shipped:>13.2f} {measured / fresh:>11.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
