"""Benchmark: batched sparse recovery (superpos_lib.sensing.recover) against per-problem loops.

Two cases, same problems on both sides:

- ``distinct``: 100 problems, each with its own Gaussian matrix (``A`` of shape (100, 100, 200)),
  k = 25, signed (+-1) signals: the Donoho–Tanner experiment, a fresh matrix per trial.

In both cases the Gaussian columns are scaled to unit length, so that sklearn's OMP (raw
correlations) and the library's (normalised correlations) make the same choices.
- ``shared``: n = 200, several (delta, rho) points across the phase diagram, ``--problems``
  problems per point (default 200) sharing one matrix (many inputs read through one network's
  weights; ``--group g`` gives each g problems their own matrix).

Each measurement is repeated ``--reps`` times (default 3) with baseline and candidate runs
interleaved, and the medians are compared, so that load from other processes on the machine hits
both sides alike. Baselines, timed in the same process:

- ``"l1"`` vs a loop of ``scipy.optimize.linprog(method="highs")`` on the standard-form LP
  ``min 1^T (u + v)  s.t.  [A, -A] [u; v] = y,  u, v >= 0``;
- ``"omp"`` vs a loop of ``sklearn.linear_model.OrthogonalMatchingPursuit(n_nonzero_coefs=k)``.

Prints problems/second on each side, the wall-time and CPU-time ratios and both sides' success
rates (relative error < 1e-4); they must agree within 0.05. Run from the repository root:

    .venv/bin/python bench/bench_sensing.py                    # both cases (several minutes on 2 cores)
    .venv/bin/python bench/bench_sensing.py --cases distinct   # the fresh-matrix case only
    .venv/bin/python bench/bench_sensing.py --quick            # 60 problems per point, fewer points
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-threaded BLAS for scipy/sklearn (the loops use one core)

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from superpos_lib.sensing import gaussian_matrix, recover, recovery_success, sparse_signals

POINTS = [(0.2, 0.2), (0.5, 0.2), (0.5, 0.35), (0.5, 0.5), (0.7, 0.45)]


def make_problems(n, delta, rho, problems, group, seed, unit_columns=False):
    """``unit_columns``: scale every column to length 1 (sklearn's OMP selects by raw correlation
    and assumes unit columns; the library's OMP selects by normalised correlation, so the two pick
    the same columns only on unit-column matrices)."""
    g = torch.Generator().manual_seed(seed)
    m = round(delta * n)
    k = max(1, round(rho * m))
    G = problems // group
    A = gaussian_matrix(m, n, batch=G, generator=g, dtype=torch.float64)  # (G, m, n)
    if unit_columns:
        A = A / A.norm(dim=1, keepdim=True)
    x = sparse_signals(problems, n, k, generator=g, dtype=torch.float64)  # (problems, n)
    A_each = A.repeat_interleave(group, dim=0)  # (problems, m, n): problem i uses A[i // group]
    y = (A_each @ x.unsqueeze(-1))[..., 0]
    return A, A_each, x, y, m, k


def batched(method, A, A_each, y, k, group, dtype=torch.float32):
    """One call per group of problems sharing a matrix, or one call for all (group == 1).
    Our side runs in ``dtype`` (the library's default float32; "l1" refits and certifies in float64)."""
    y = y.to(dtype)
    if group == 1:  # convert only the matrices this call uses (A_each is A here)
        return recover(A_each.to(dtype), y, method=method, k=k)
    A = A.to(dtype)
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


def compare(method, A, A_each, x, y, k, group, reps):
    """Interleave ``reps`` candidate and baseline runs; return the medians and both success rates."""
    runs = {"ours": [], "base": [], "ours_cpu": [], "base_cpu": []}
    for _ in range(reps):
        ours, t, c = timed(lambda: batched(method, A, A_each, y, k, group))
        runs["ours"].append(t)
        runs["ours_cpu"].append(c)
        base, t, c = timed(lambda: lp_loop(A_each, y) if method == "l1" else omp_loop(A_each, y, k))
        runs["base"].append(t)
        runs["base_cpu"].append(c)
    med = {key: statistics.median(v) for key, v in runs.items()}
    s_ours = recovery_success(ours.double(), x).double().mean().item()
    s_base = recovery_success(base, x).double().mean().item()
    return med, s_ours, s_base


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--group", type=int, default=0, help="problems per matrix (0: all of a point)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, like linprog and sklearn; 2 threads suffer badly when the other core is busy)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--methods", default="l1,omp")
    parser.add_argument("--cases", default="distinct,shared")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    cases = args.cases.split(",")
    failures = []
    # warm-up (imports, first-call overheads) on a small problem, untimed
    for grp in (1, 4):
        A, A_each, x, y, m, k = make_problems(args.n, 0.5, 0.2, 4, grp, seed=99)
        for method in methods:
            batched(method, A, A_each, y, k, grp)
    lp_loop(A_each[:1], y[:1])
    omp_loop(A_each[:1], y[:1], k)
    print(f"torch threads = {args.threads}, {args.reps} interleaved repetitions, medians")
    if "distinct" in cases:
        print("\ndistinct matrices: 100 problems, A (100, 100, 200), k = 25, signed")
        A, A_each, x, y, m, k = make_problems(200, 0.5, 0.25, 100, 1, seed=7, unit_columns=True)
        for method in methods:
            base_name = "linprog(highs)" if method == "l1" else "sklearn OMP"
            med, s_ours, s_base = compare(method, A, A_each, x, y, k, 1, args.reps)
            ratio, cpu_ratio = med["base"] / med["ours"], med["base_cpu"] / med["ours_cpu"]
            bar = 20 if method == "l1" else 10
            print(f"{method!r} vs {base_name} loop: ours {med['ours']:.3f} s, base {med['base']:.3f} s -> "
                  f"{ratio:.1f}x wall, {cpu_ratio:.1f}x CPU (bar {bar}x: {'PASS' if ratio >= bar else 'BELOW BAR'}); "
                  f"success {s_ours:.3f} vs {s_base:.3f}")
            if ratio < bar:
                failures.append(f"distinct {method}: wall-time ratio {ratio:.1f}x < {bar}x")
            if abs(s_ours - s_base) > 0.05:
                failures.append(f"distinct {method}: success {s_ours:.3f} vs {s_base:.3f}")
    if "shared" not in cases:
        for f in failures:
            print("FAIL:", f)
        return 1 if failures else 0
    problems = 60 if args.quick else args.problems
    group = problems if args.group == 0 else args.group
    if problems % group:
        raise ValueError(f"--group must divide the number of problems ({problems}), got {group}")
    points = POINTS[1:4] if args.quick else POINTS
    print(f"\nshared: n = {args.n}, {problems} problems per point, {group} problems per matrix")
    for method in methods:
        base_name = "linprog(highs)" if method == "l1" else "sklearn OMP"
        total = {"ours": 0.0, "base": 0.0, "ours_cpu": 0.0, "base_cpu": 0.0}
        print(f"\n{method!r} vs {base_name} loop")
        print(f"{'delta':>6} {'rho':>5} {'m':>4} {'k':>4} | {'ours/s':>9} {'base/s':>8} {'ratio':>6} "
              f"{'cpu ratio':>9} | {'succ ours':>9} {'succ base':>9}")
        for p, (delta, rho) in enumerate(points):
            A, A_each, x, y, m, k = make_problems(args.n, delta, rho, problems, group, seed=p, unit_columns=True)
            med, s_ours, s_base = compare(method, A, A_each, x, y, k, group, args.reps)
            t_ours, t_base, c_ours, c_base = med["ours"], med["base"], med["ours_cpu"], med["base_cpu"]
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
        print(f"overall shared {method!r}: {ratio:.1f}x the per-problem loop in wall time, {cpu_ratio:.1f}x in CPU time "
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
