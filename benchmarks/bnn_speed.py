"""Speed of the HMC BNN surrogate against a straightforward single-chain implementation.

On the study's Hartmann settings (n=100, d=6, widths 128x3 tanh, prior_var 1, noise std 0.1,
500 burn-in + 500 samples, step 0.02, path 0.01, 1000 pretrain steps) it prints, side by side:

(a) fit seconds and held-out NLL / RMSE on 1000 test points (mean over --seeds fits): the
    naive baseline (below) vs ours, cold (a fresh fit) and warm (the next BO fit, one point
    more, started from the previous fit's chains);
(b) seconds for 128 posterior draws at 20 and 1000 points: a loop over samples with
    ``vector_to_parameters`` vs one batched pass (forward, and forward + backward to X);
(c) GFLOP/s of the batched forward at 1000 points against a plain large matmul.

    python benchmarks/bnn_speed.py [--device cpu|cuda] [--threads 2] [--seeds 3] [--quick]

``--quick`` shrinks every budget (a smoke test, not a measurement). Timings are wall-clock
medians; the machine may be shared, so compare columns of one run only.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time

import torch
from botorch.test_functions import Hartmann
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from bnnbo.surrogates.networks.hmc import HMCSurrogate
from bnnbo.surrogates.posterior import SampleIndexSampler

WIDTHS, PRIOR_VAR, NOISE = (128, 128, 128), 1.0, 0.1


class NaiveHMC:
    """The study's style: one chain, a list of float64 parameter tensors, ``backward()``,
    Python loops over parameters and leapfrog steps, identity mass, dual averaging."""

    def __init__(
        self,
        d: int,
        burn: int,
        samples: int,
        pretrain: int,
        step: float = 0.02,
        path: float = 0.01,
        device="cpu",
    ):
        sizes = [d, *WIDTHS, 1]
        self.params = []
        for fi, fo in itertools.pairwise(sizes):
            bound = 1 / math.sqrt(fi)
            for shape in ((fi, fo), (fo,)):
                w = torch.empty(shape, dtype=torch.float64, device=device).uniform_(-bound, bound)
                self.params.append(w.requires_grad_())
        self.burn, self.n, self.pretrain, self.step, self.path = burn, samples, pretrain, step, path

    def forward(self, X):
        h = X
        for i in range(0, len(self.params), 2):
            h = h @ self.params[i] + self.params[i + 1]
            if i < len(self.params) - 2:
                h = torch.tanh(h)
        return h

    def potential(self, X, Y):
        lik = 0.5 * ((self.forward(X) - Y) ** 2).sum() / NOISE**2
        return lik + 0.5 * sum((p**2).sum() for p in self.params) / PRIOR_VAR

    def grads(self, X, Y):
        for p in self.params:
            p.grad = None
        U = self.potential(X, Y)
        U.backward()
        return float(U.detach()), [p.grad.clone() for p in self.params]

    def fit(self, X, Y):
        opt = torch.optim.Adam(self.params, lr=1e-3)
        for _ in range(self.pretrain):
            opt.zero_grad()
            self.potential(X, Y).backward()
            opt.step()
        eps, mu, hbar, log_avg, self.samples = self.step, math.log(10 * self.step), 0.0, 0.0, []
        U, g = self.grads(X, Y)
        for it in range(self.burn + self.n):
            U, g, acc = self._transition(X, Y, U, g, eps)
            if it < self.burn:  # dual averaging, target 0.8
                t = it + 1
                hbar = (1 - 1 / (t + 10)) * hbar + (0.8 - acc) / (t + 10)
                log_eps = mu - math.sqrt(t) / 0.05 * hbar
                log_avg = t**-0.75 * log_eps + (1 - t**-0.75) * log_avg
                eps = math.exp(log_eps) if it < self.burn - 1 else math.exp(log_avg)
            else:
                self.samples.append(parameters_to_vector(self.params).detach().clone())
        return self

    def _transition(self, X, Y, U, g, eps):
        old = [p.detach().clone() for p in self.params]
        mom = [torch.randn_like(p) for p in self.params]
        k0 = sum(float((m**2).sum()) for m in mom) / 2
        n_lf = max(1, min(200, math.ceil(self.path / eps)))
        g_new = g
        for step in range(n_lf):
            with torch.no_grad():
                for p, m, gi in zip(self.params, mom, g_new):
                    m -= 0.5 * eps * gi
                    p += eps * m
            U_new, g_new = self.grads(X, Y)
            with torch.no_grad():
                for m, gi in zip(mom, g_new):
                    m -= 0.5 * eps * gi
        dH = U_new + sum(float((m**2).sum()) for m in mom) / 2 - U - k0
        acc = 1.0 if dH <= 0 else math.exp(-dH) if math.isfinite(dH) else 0.0
        if float(torch.rand(())) < acc:
            return U_new, g_new, acc
        with torch.no_grad():
            for p, o in zip(self.params, old):
                p.copy_(o)
        return U, g, acc

    def draws(self, X, idx):
        outs = []
        for i in idx:  # the study's posterior: load each sample, run the network
            vector_to_parameters(self.samples[i], self.params)
            outs.append(self.forward(X))
        return torch.stack(outs)


def held_out(mean, var, Y, noise_var):
    """Gaussian predictive NLL (mean over points) and RMSE."""
    v = var + noise_var
    nll = 0.5 * (math.log(2 * math.pi) + v.log() + (Y - mean) ** 2 / v).mean()
    return float(nll), float(((Y - mean) ** 2).mean().sqrt())


def timed(fn, repeat=5):
    """Median wall-clock seconds of ``fn()`` (after one warm-up call) and its last result."""
    out = fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        _sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def hartmann_data(n_train, n_test, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    f = Hartmann(dim=6, negate=True)
    X = torch.rand(n_train + n_test, 6, generator=g, dtype=torch.float64)
    Y = f(X).unsqueeze(-1)
    return [t.to(device) for t in (X[:n_train], Y[:n_train], X[n_train:], Y[n_train:])]


#: our configurations in (a): label, settings beyond the study's Hartmann ones, warm start;
#: float32 and the output layer integrated out unless the label says otherwise
OURS = (
    ("ours, default (1 chain on a CPU, 4 on a GPU)", {}, False),
    ("ours, 2 chains", {"n_chains": 2}, False),
    ("ours, 4 chains", {"n_chains": 4}, False),
    (
        "ours, 4 chains, all weights sampled",
        {"n_chains": 4, "collapse_output_layer": False},
        False,
    ),
    ("ours, 1 chain, float64", {"n_chains": 1, "dtype": "float64"}, False),
    ("ours, default, warm start", {}, True),
)


def fit_section(args, data):
    """(a): naive baseline vs ours over ``args.seeds`` seeds; returns objects for (b).

    Seed by seed, the baseline and then each of our configurations: a fit and the baseline
    it is compared with run minutes apart at most, so a slow phase of a shared machine
    falls on both. The speed-up is the median over seeds of the per-seed ratio."""
    X, Y, Xt, Yt = data
    burn, n, pre = (50, 50, 100) if args.quick else (500, 500, 1000)
    noise_var = (NOISE * Y.std()) ** 2  # both standardise y, so the noise is 0.1 std(y)
    print(
        f"(a) fit on n={len(X)} Hartmann points, {burn} burn-in + {n} samples per chain, "
        f"{pre} pretrain steps; seeds {list(range(args.seeds))}: median time, median "
        "per-seed speed-up, mean NLL and RMSE",
        flush=True,
    )
    settings = {"preset": "fast:hartmann", "n_burn_in": burn, "n_samples": n, "pretrain_steps": pre}
    rows, naive, model = {NAIVE: []}, None, None
    for seed in range(args.seeds):
        naive, t, score = _naive_fit(seed, data, burn, n, pre, noise_var)
        rows[NAIVE].append((t, *score, None))
        for label, extra, warm in OURS:
            sur, state = HMCSurrogate(**settings, **extra), None
            if warm:  # the previous BO iteration: one point fewer
                sur.fit(X[:-1], Y[:-1], seed=seed + 100)
                state = sur.state_
            t = time.perf_counter()
            m = sur.fit(X, Y, seed=seed, state=state)
            _sync()
            t = time.perf_counter() - t
            rows.setdefault(label, []).append((t, *_score(m, Xt, Yt, noise_var), sur.diagnostics_))
            model = m if not extra and not warm and seed == 0 else model
        print(f"  seed {seed} done", flush=True)
    print(
        f"{'':44s}{'fit s':>8s}{'speed-up':>10s}{'seeds range':>13s}{'NLL':>8s}{'RMSE':>8s}  sampler (last seed)",
    )
    naive_t = [r[0] for r in rows[NAIVE]]
    for label, runs in rows.items():
        _row(label, runs, naive_t)
    return naive, model


NAIVE = "naive single chain (float64)"


def _naive_fit(seed, data, burn, n, pre, noise_var):
    X, Y, Xt, Yt = data
    torch.manual_seed(seed)
    mu, sd = Y.mean(), Y.std()
    t = time.perf_counter()
    naive = NaiveHMC(6, burn, n, pre, device=X.device).fit(X, (Y - mu) / sd)
    t = time.perf_counter() - t
    with torch.no_grad():
        f = naive.draws(Xt, range(len(naive.samples))) * sd + mu
    return naive, t, held_out(f.mean(0), f.var(0, unbiased=False), Yt, noise_var)


def _row(label, runs, naive_t):
    """One line: median seconds, median per-seed speed-up and its range over seeds, mean NLL
    and RMSE over seeds, the last seed's diagnostics."""
    secs = statistics.median(r[0] for r in runs)
    ratios = [t0 / r[0] for t0, r in zip(naive_t, runs)]
    speedup = statistics.median(ratios)
    span = f"{min(ratios):.1f}-{max(ratios):.1f}x"
    nll, rmse = (statistics.mean(r[i] for r in runs) for i in (1, 2))
    diag = runs[-1][3]
    extra = (
        (
            f"  acc {diag['acceptance']:.2f}, eps {diag['step_size']:.2g}, "
            f"L {diag['n_leapfrog']}, grads {diag['gradient_evaluations']}"
        )
        if diag
        else ""
    )
    print(f"{label:44s}{secs:8.2f}{speedup:9.1f}x{span:>13s}{nll:8.3f}{rmse:8.3f}{extra}", flush=True)


def _score(model, Xt, Yt, noise_var):
    with torch.no_grad():
        post = model.posterior(Xt)
        return held_out(post.mean, post.variance, Yt, noise_var)


def draws_section(args, naive, model):
    """(b): 128 draws at 20 and 1000 points: loop vs one batched pass."""
    from bnnbo.surrogates.posterior import SampleModel

    dev = model.eval_weights.device
    stacked = torch.stack(naive.samples)
    model64 = SampleModel(model.spec, stacked, model.y_mean, model.y_std, model.y_std * 0)
    idx = (torch.randperm(128) % len(naive.samples)).tolist()
    sampler = SampleIndexSampler(torch.Size([128]), seed=0)
    print("\n(b) 128 posterior draws, ms (median of 5)   forward   fwd+bwd to X   speed-up (fwd, fwd+bwd)")
    for n_pts in (20, 1000):
        X = torch.rand(n_pts, 1, 6, dtype=torch.float64, device=dev)
        res = {}
        for label, fn in (
            ("loop over samples (float64)", lambda Z: naive.draws(Z.reshape(-1, 6), idx)),
            ("batched (float64)", lambda Z: sampler(model64.posterior(Z))),
            ("batched (float32 samples)", lambda Z: sampler(model.posterior(Z))),
        ):
            with torch.no_grad():
                t_f, _ = timed(lambda fn=fn, X=X: fn(X))
            Xg = X.clone().requires_grad_()
            t_b, _ = timed(lambda fn=fn, Xg=Xg: fn(Xg).sum().backward())
            res[label] = (t_f, t_b)
        base = res["loop over samples (float64)"]
        for label, (t_f, t_b) in res.items():
            print(
                f"  {n_pts:5d} pts  {label:30s}{t_f * 1e3:8.1f}{t_b * 1e3:12.1f}"
                f"        {base[0] / t_f:5.1f}x {base[1] / t_b:5.1f}x"
            )
    return model64


def flops_section(args, model, model64):
    """(c): achieved GFLOP/s of the batched forward at 1000 points vs a plain matmul."""
    dev = model.eval_weights.device
    print("\n(c) GFLOP/s                 batched forward (128 nets, 1000 pts)   plain matmul")
    for label, m, dt in (("float32", model, torch.float32), ("float64", model64, torch.float64)):
        X = torch.rand(1000, 6, dtype=torch.float64, device=dev)
        theta = m.eval_weights[:128]
        with torch.no_grad():
            t_net, _ = timed(lambda m=m, th=theta, X=X: m.spec.forward(th, X, sigmoid_form=True))
        k = 1024 if args.quick else 2048
        A = torch.randn(k, k, dtype=dt, device=dev)
        t_mm, _ = timed(lambda A=A: A @ A)
        net = 128 * m.spec.flops(1000) / t_net / 1e9
        mm = 2 * k**3 / t_mm / 1e9
        print(f"  {label:10s}{net:32.1f} ({net / mm:4.0%} of matmul){mm:17.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="fits per configuration in (a)")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"device {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    data = hartmann_data(100, 1000, args.device)
    naive, model = fit_section(args, data)
    model64 = draws_section(args, naive, model)
    flops_section(args, model, model64)


if __name__ == "__main__":
    main()
