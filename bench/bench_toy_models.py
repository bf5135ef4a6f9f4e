"""Benchmark: superpos_lib's fused toy-model kernel vs a plain batched autograd loop.

The baseline is written the way one writes a toy model of superposition by hand (as in the TMS
notebook): fresh features from two ``torch.rand`` calls (magnitude and mask), two ``einsum``s, a ReLU,
the importance-weighted loss, ``loss.backward()`` and ``torch.optim.Adam``. Both start from the same
initial weights; they are timed interleaved in the same process (baseline, ours, baseline, ...)
and the median of the per-repeat time ratios is reported. Final losses are compared on one large
fresh batch (``superpos_lib.toy_models.evaluate``).

    python bench/bench_toy_models.py                  # both configs, 2 threads, CPU
    python bench/bench_toy_models.py --device cuda    # on a GPU
    python bench/bench_toy_models.py --config intro --repeats 7

Configs: ``intro`` = TMS's intro (10 instances, n=5, d=2, importance 0.9^i, feature probability
20^-linspace(0, 1, 10), batch 1024, 2,000 steps); ``big`` = n=200, d=20, 20 instances, constant
importance, feature probability log-spaced from 1 to 0.01, batch 1024 (300 steps by default).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from superpos_lib.device import get_device
from superpos_lib.toy_models import ToyModel, evaluate, train

CONFIGS = {
    "intro": dict(n_instances=10, n_features=5, d_hidden=2, importance_decay=0.9, p_min=0.05, batch=1024, steps=2000),
    "big": dict(n_instances=20, n_features=200, d_hidden=20, importance_decay=1.0, p_min=0.01, batch=1024, steps=300),
}


def make_model(cfg, device) -> ToyModel:
    n, I = cfg["n_features"], cfg["n_instances"]
    importance = cfg["importance_decay"] ** torch.arange(n, dtype=torch.float32)
    prob = torch.logspace(0, torch.log10(torch.tensor(cfg["p_min"])).item(), I)[:, None]
    return ToyModel(n, cfg["d_hidden"], I, importance=importance, feature_probability=prob, device=device, seed=0)


def baseline_train(model: ToyModel, steps: int, batch: int, lr: float = 1e-3, seed: int = 0) -> torch.Tensor:
    """The plain loop (autograd + torch.optim.Adam); trains copies of model's W, b in place."""
    W = torch.nn.Parameter(model.W.detach().clone())
    b = torch.nn.Parameter(model.b.detach().clone())
    imp, prob = model.importance, model.feature_probability
    I, n = prob.shape
    opt = torch.optim.Adam([W, b], lr=lr)
    g = torch.Generator(device=W.device).manual_seed(seed)
    for _ in range(steps):
        feat = torch.rand(batch, I, n, generator=g, device=W.device)
        mask = torch.rand(batch, I, n, generator=g, device=W.device) < prob
        x = feat * mask
        h = torch.einsum("bin,idn->bid", x, W)
        out = torch.relu(torch.einsum("bid,idn->bin", h, W) + b)
        loss = (imp * (x - out) ** 2).mean(dim=(0, 2))
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
    return loss.detach()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(name: str, cfg: dict, device, repeats: int, steps: int | None) -> dict:
    steps = steps or cfg["steps"]
    t_base, t_ours = [], []
    for rep in range(repeats):
        m_base, m_ours = make_model(cfg, device), make_model(cfg, device)
        sync(device); t0 = time.perf_counter()
        baseline_train(m_base, steps, cfg["batch"], seed=rep)
        sync(device); t1 = time.perf_counter()
        train(m_ours, steps=steps, batch_size=cfg["batch"], seed=rep, progress=False)
        sync(device); t2 = time.perf_counter()
        t_base.append(t1 - t0)
        t_ours.append(t2 - t1)
        print(f"  [{name}] repeat {rep}: baseline {t_base[-1]:.3f} s, ours {t_ours[-1]:.3f} s, "
              f"ratio {t_base[-1] / t_ours[-1]:.2f}x", flush=True)
    l_base, l_ours = evaluate(m_base, 2 ** 17), evaluate(m_ours, 2 ** 17)
    rel = ((l_ours - l_base).abs() / l_base.clamp_min(1e-12))
    ratios = [b / o for b, o in zip(t_base, t_ours)]
    result = dict(config=name, steps=steps, median_baseline_s=statistics.median(t_base),
                  median_ours_s=statistics.median(t_ours), median_ratio=statistics.median(ratios),
                  max_rel_final_loss_diff=rel.max().item())
    print(f"{name}: {steps} steps | baseline median {result['median_baseline_s']:.3f} s | ours median "
          f"{result['median_ours_s']:.3f} s | median ratio {result['median_ratio']:.2f}x | final loss per "
          f"instance: max relative difference {100 * result['max_rel_final_loss_diff']:.2f}%")
    print("  final losses, baseline:", [f"{v:.4g}" for v in l_base.tolist()])
    print("  final losses, ours:    ", [f"{v:.4g}" for v in l_ours.tolist()])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["intro", "big", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="override the config's number of steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"torch {torch.__version__} | {label}")
    names = ["intro", "big"] if args.config == "all" else [args.config]
    return [run(n, CONFIGS[n], device, args.repeats, args.steps) for n in names]


if __name__ == "__main__":
    main()
