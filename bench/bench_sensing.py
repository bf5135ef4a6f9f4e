"""Benchmark: batched sparse recovery (superpos_lib.sensing.recover) against per-problem loops.

Same problems on both sides: n = 200, several (delta, rho) points across the phase diagram,
``--problems`` problems per point (default 200). Each point's problems share sensing matrices in
groups of ``--group`` (default: all problems of a point share one matrix, the situation of
reading many inputs out of one network's weights); ``--group 1`` gives every problem its own
matrix. Baselines, timed in the same process:

- ``"l1"`` vs a loop of ``scipy.optimize.linprog(method="highs")`` on the standard-form LP
  ``min 1^T (u + v)  s.t.  [A, -A] [u; v] = y,  u, v >= 0``;
- ``"omp"`` vs a loop of ``sklearn.linear_model.OrthogonalMatchingPursuit(n_nonzero_coefs=k)``.

Prints problems/second on each side, the speed ratio and both sides' success rates (relative
error < 1e-4); they must agree within 0.05. Run from the repository root:

    .venv/bin/python bench/bench_sensing.py            # full run (a few minutes on 2 cores)
    .venv/bin/python bench/bench_sensing.py --quick    # 60 problems per point, fewer points
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-threaded BLAS for scipy/sklearn (the loops use one core)

import argparse
import time
import warnings

import numpy as np
import torch

from superpos_lib.sensing import gaussian_matrix, recover, recovery_success, sparse_signals

POINTS = [(0.2, 0.2), (0.5, 0.2), (0.5, 0.35), (0.5, 0.5), (0.7, 0.45)]


def make_problems(n, delta, rho, problems, group, seed):
    g = torch.Generator().manual_seed(seed)
    m = round(delta * n)
    k = max(1, round(rho * m))
    G = problems // group
    A = gaussian_matrix(m, n, batch=G, generator=g, dtype=torch.float64)  # (G, m, n)
    x = sparse_signals(problems, n, k, generator=g, dtype=torch.float64)  # (problems, n)
    A_each = A.repeat_interleave(group, dim=0)  # (problems, m, n): problem i uses A[i // group]
    y = (A_each @ x.unsqueeze(-1))[..., 0]
    return A, A_each, x, y, m, k


def batched(method, A, A_each, y, k, group, dtype=torch.float32):
    """One call per group of problems sharing a matrix, or one call for all (group == 1).
    Our side runs in ``dtype`` (the library's default float32; "l1" refits and certifies in float64)."""
    A, A_each, y = A.to(dtype), A_each.to(dtype), y.to(dtype)
    if group == 1:
        return recover(A_each, y, method=method, k=k)
    return torch.cat([recover(A[i], y[i * group:(i + 1) * group], method=method, k=k)
                      for i in range(A.shape[0])])


def lp_loop(A_each, y):
    from scipy.optimize import linprog

    n = A_each.shape[2]
    out = np.zeros((A_each.shape[0], n))
    c = np.ones(2 * n)
    for i in range(A_each.shape[0]):
        a = A_each[i].numpy()
        res = linprog(c, A_eq=np.hstack([a, -a]), b_eq=y[i].numpy(), bounds=(0, None), method="highs")
        out[i] = res.x[:n] - res.x[n:]
    return torch.from_numpy(out)


def omp_loop(A_each, y, k):
    from sklearn.linear_model import OrthogonalMatchingPursuit

    out = np.zeros((A_each.shape[0], A_each.shape[2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(A_each.shape[0]):
            model = OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False)
            out[i] = model.fit(A_each[i].numpy(), y[i].numpy()).coef_
    return torch.from_numpy(out)


def timed(fn):
    """Run fn; return its output, the wall time and the CPU time of this process."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--group", type=int, default=0, help="problems per matrix (0: all of a point)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, default both cores (linprog and sklearn use one)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--methods", default="l1,omp")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    problems = 60 if args.quick else args.problems
    group = problems if args.group == 0 else args.group
    if problems % group:
        raise ValueError(f"--group must divide the number of problems ({problems}), got {group}")
    points = POINTS[1:4] if args.quick else POINTS
    print(f"n = {args.n}, {problems} problems per point, {group} problems per matrix, "
          f"torch threads = {args.threads}")
    failures = []
    # warm-up (imports, first-call overheads) on a small problem, untimed
    A, A_each, x, y, m, k = make_problems(args.n, 0.5, 0.2, 4, 4 if group > 1 else 1, seed=99)
    for method in args.methods.split(","):
        batched(method, A, A_each, y, k, 4 if group > 1 else 1)
    lp_loop(A_each[:1], y[:1])
    omp_loop(A_each[:1], y[:1], k)
    for method in args.methods.split(","):
        base_name = "linprog(highs)" if method == "l1" else "sklearn OMP"
        total = {"ours": 0.0, "base": 0.0, "ours_cpu": 0.0, "base_cpu": 0.0}
        print(f"\n{method!r} vs {base_name} loop")
        print(f"{'delta':>6} {'rho':>5} {'m':>4} {'k':>4} | {'ours/s':>9} {'base/s':>8} {'ratio':>6} "
              f"{'cpu ratio':>9} | {'succ ours':>9} {'succ base':>9}")
        for p, (delta, rho) in enumerate(points):
            A, A_each, x, y, m, k = make_problems(args.n, delta, rho, problems, group, seed=p)
            ours, t_ours, c_ours = timed(lambda: batched(method, A, A_each, y, k, group))
            if method == "l1":
                base, t_base, c_base = timed(lambda: lp_loop(A_each, y))
            else:
                base, t_base, c_base = timed(lambda: omp_loop(A_each, y, k))
            s_ours = recovery_success(ours.double(), x).double().mean().item()
            s_base = recovery_success(base, x).double().mean().item()
            total["ours"] += t_ours
            total["base"] += t_base
            total["ours_cpu"] += c_ours
            total["base_cpu"] += c_base
            print(f"{delta:6.2f} {rho:5.2f} {m:4d} {k:4d} | {problems / t_ours:9.1f} {problems / t_base:8.1f} "
                  f"{t_base / t_ours:6.1f} {c_base / c_ours:9.1f} | {s_ours:9.3f} {s_base:9.3f}")
            if abs(s_ours - s_base) > 0.05:
                failures.append(f"{method} at delta={delta}, rho={rho}: success {s_ours:.3f} vs {s_base:.3f}")
        ratio = total["base"] / total["ours"]
        cpu_ratio = total["base_cpu"] / total["ours_cpu"]
        bar = 20 if method == "l1" else 10
        print(f"overall {method!r}: {ratio:.1f}x the per-problem loop in wall time, {cpu_ratio:.1f}x in CPU time "
              f"(bar {bar}x): {'PASS' if ratio >= bar else 'BELOW BAR'}")
        if ratio < bar:
            failures.append(f"{method}: overall wall-time ratio {ratio:.1f}x < {bar}x")
    print("\nsuccess rates agree within 0.05 everywhere" if not any("success" in f for f in failures)
          else "")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
