"""Single-thread matmul throughput on this machine: a square mm in float32 / float64 / bfloat16
and the acquisition's batched shape (128 networks x 88 points x 128 x 128).

    python benchmarks/matmul_rate.py
"""

import time

import torch

torch.set_num_threads(1)


def ms(f, r=10):
    f()
    t = time.perf_counter()
    for _ in range(r):
        f()
    return (time.perf_counter() - t) / r * 1e3


for dt in (torch.float32, torch.float64, torch.bfloat16):
    A, B = torch.randn(1024, 1024, dtype=dt), torch.randn(1024, 1024, dtype=dt)
    print(f"1024^3 mm {dt}: {2 * 1024**3 / ms(lambda A=A, B=B: A @ B, 5) / 1e6:.1f} GFLOP/s")
S, N, w = 128, 88, 128
A, B = torch.randn(S, N, w), torch.randn(S, w, w)
Bt = B.transpose(1, 2).contiguous().transpose(1, 2)  # the backward's transposed weights
for name, W in (("bmm", B), ("bmm, transposed weights", Bt)):
    t = ms(lambda W=W: torch.bmm(A, W))
    print(f"{name} {S}x{N}x{w}x{w} float32: {t:.1f} ms, {2 * S * N * w * w / t / 1e6:.1f} GFLOP/s")
