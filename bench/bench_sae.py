"""Benchmark: SAE training on the CPU, timed through the public ``train_sae``.

Shapes: d_in=128, d_sae=1024, batch 2048, 200 steps per run (``--steps``). Every method trains on
the same 20 pre-drawn batches (cycled) from the same init; the runs of all methods are interleaved
(the order rotates each repeat) in one process, and the medians over ``--repeats`` runs compared.
Prints, with the bar of issue 15 next to each ratio:

* ReLU (L1 0.1): ``train_sae`` against the five bare GEMMs a step must do (encoder, decoder,
  decoder-weight gradient, latent gradient, encoder-weight gradient) at the same shapes: <= 1.3.
* TopK (k=16, AuxK off in both, so both do the same work): a plain dense autograd TopK loop
  divided by ``train_sae``: >= 3. Also printed: the floor, one encoder GEMM plus ``torch.topk``,
  which no TopK step can beat, and the dense loop divided by it (the largest speed-up possible).
  The held-out loss of both after training is compared (<= 2 %).
* JumpReLU (L0 0.1, bandwidth 0.05) and BatchTopK (k=16): a plain autograd loop of the same SAE
  (JumpReLU through the straight-through autograd functions; BatchTopK with a top-k over the
  flattened batch) divided by ``train_sae``: >= 1.5 each.
* Gated (L1 0.1; no bar): ``train_sae``'s autograd reference path divided by its hand-derived step.

Run: ``python bench/bench_sae.py [--steps 200] [--repeats 3] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from superpos_lib.sae import SparseAutoencoder, heaviside_step, jumprelu, synthetic_features, train_sae

D_IN, D_SAE, BATCH, K, L1, L0, BANDWIDTH, LR = 128, 1024, 2048, 16, 0.1, 0.1, 0.05, 1e-3


class _Cycle:
    """``data(batch_size)`` for ``train_sae``: the pre-drawn batches in turn."""

    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def __call__(self, batch_size):
        x = self.batches[self.i % len(self.batches)]
        self.i += 1
        return x


def _ours(act, batches, steps, method="fast"):
    kw = {"relu": dict(l1_coeff=L1), "topk": dict(aux_coeff=0.0), "jumprelu": dict(l0_coeff=L0, bandwidth=BANDWIDTH),
          "batchtopk": dict(aux_coeff=0.0), "gated": dict(l1_coeff=L1)}[act]
    sae = SparseAutoencoder(D_IN, D_SAE, activation=act, k=K if act in ("topk", "batchtopk") else None, seed=0)
    train_sae(sae, _Cycle(batches), steps=steps, batch_size=BATCH, lr=LR, log_every=steps, progress=False,
              method=method, **kw)
    return sae


class _Plain:
    """A plain PyTorch loop as a user would write it: 2-D parameters, autograd, torch.optim.Adam,
    unit-norm decoder rows kept by projection and renormalisation (same init as ``train_sae``)."""

    def __init__(self, act, batches):
        ref = SparseAutoencoder(D_IN, D_SAE, seed=0)
        self.W_enc = ref.W_enc.detach()[0].clone().requires_grad_()
        self.b_enc = ref.b_enc.detach()[0].clone().requires_grad_()
        self.W_dec = ref.W_dec.detach()[0].clone().requires_grad_()
        self.b_dec = batches[0].mean(0).clone().requires_grad_()   # train_sae starts b_dec at the data mean
        self.params = [self.W_enc, self.b_enc, self.W_dec, self.b_dec]
        if act == "jumprelu":
            self.log_threshold = torch.full((D_SAE,), 0.1).log().requires_grad_()
            self.params.append(self.log_threshold)
        self.opt = torch.optim.Adam(self.params, lr=LR)
        self.act = act

    def loss(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        penalty = 0.0
        if self.act == "relu":
            z = torch.relu(pre)
            penalty = L1 * (z * self.W_dec.norm(dim=-1)).sum(-1).mean()
        elif self.act == "topk":
            v, i = pre.topk(K, dim=-1)
            z = torch.zeros_like(pre).scatter(-1, i, torch.relu(v))
        elif self.act == "batchtopk":
            flat = pre.reshape(-1)
            v, i = flat.topk(K * x.shape[0])
            z = torch.zeros_like(flat).scatter(-1, i, torch.relu(v)).view_as(pre)
        else:
            theta = self.log_threshold.exp()
            z = jumprelu(pre, theta, BANDWIDTH)
            penalty = L0 * heaviside_step(pre, theta, BANDWIDTH).sum(-1).mean()
        x_hat = z @ self.W_dec + self.b_dec
        return (x_hat - x).pow(2).sum(-1).mean() + penalty

    def train(self, batches, steps):
        for s in range(steps):
            x = batches[s % len(batches)]
            self.opt.zero_grad(set_to_none=True)
            self.loss(x).backward()
            with torch.no_grad():
                W = self.W_dec
                W.grad -= (W.grad * W).sum(-1, keepdim=True) * W
            self.opt.step()
            with torch.no_grad():
                W.div_(W.norm(dim=-1, keepdim=True))


def _plain(act, batches, steps):
    p = _Plain(act, batches)
    p.train(batches, steps)
    return p


def _gemms(batches, steps):
    """The five bare matrix products of a dense step, ``steps`` times."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, D_IN, generator=g)
    W, Wd = torch.randn(D_IN, D_SAE, generator=g), torch.randn(D_SAE, D_IN, generator=g)
    z, gx = torch.randn(BATCH, D_SAE, generator=g), torch.randn(BATCH, D_IN, generator=g)
    for _ in range(steps):
        torch.mm(x, W)
        torch.mm(z, Wd)
        torch.mm(z.t(), gx)
        torch.mm(gx, Wd.t())
        torch.mm(x.t(), z)


def _topk_floor(batches, steps):
    """What every TopK step must do at least: the encoder GEMM and the top-k, ``steps`` times."""
    W = torch.randn(D_IN, D_SAE, generator=torch.Generator().manual_seed(0))
    for s in range(steps):
        (batches[s % len(batches)] @ W).topk(K, dim=-1)


def _interleave(runners: dict, repeats: int):
    """Median wall time of each runner over ``repeats`` interleaved rounds (the order rotates)."""
    times = {name: [] for name in runners}
    names = list(runners)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            out = runners[name]()
            times[name].append(time.perf_counter() - t0)
            runners[name].last = out
    return {name: statistics.median(t) for name, t in times.items()}


class _Runner:
    def __init__(self, fn):
        self.fn, self.last = fn, None

    def __call__(self):
        return self.fn()


@torch.no_grad()
def _held_out_loss_ours(sae, x):
    x_hat, _ = sae(x)
    return (x_hat[0] - x).pow(2).sum(-1).mean().item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    feats = synthetic_features(512, D_IN, seed=0)
    batches = [feats(BATCH) for _ in range(20)]
    held_out = feats(8192)
    S, R = args.steps, args.repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, d_in={D_IN}, d_sae={D_SAE}, batch={BATCH}, "
          f"k={K}, {S} steps per run through train_sae; medians of {R} interleaved runs")
    out = {}

    # ---- ReLU
    med = _interleave({"ours": _Runner(lambda: _ours("relu", batches, S)),
                       "gemms": _Runner(lambda: _gemms(batches, S)),
                       "autograd": _Runner(lambda: _plain("relu", batches, S))}, R)
    out["relu_over_gemms"] = med["ours"] / med["gemms"]
    print(f"ReLU      train_sae {med['ours'] / S * 1e3:.2f} ms/step | 5 bare GEMMs {med['gemms'] / S * 1e3:.2f} | "
          f"plain autograd {med['autograd'] / S * 1e3:.2f}")
    print(f"ReLU      train_sae / 5 GEMMs = {out['relu_over_gemms']:.2f} (bar <= 1.3) | "
          f"plain autograd / train_sae = {med['autograd'] / med['ours']:.2f}")

    # ---- TopK
    runners = {"ours": _Runner(lambda: _ours("topk", batches, S)), "floor": _Runner(lambda: _topk_floor(batches, S)),
               "autograd": _Runner(lambda: _plain("topk", batches, S))}
    med = _interleave(runners, R)
    out["topk_speedup"] = med["autograd"] / med["ours"]
    out["topk_possible"] = med["autograd"] / med["floor"]
    loss_ours = _held_out_loss_ours(runners["ours"].last, held_out)
    with torch.no_grad():
        loss_auto = runners["autograd"].last.loss(held_out).item()
    out["topk_loss_rel"] = abs(loss_ours - loss_auto) / loss_auto
    print(f"TopK      train_sae {med['ours'] / S * 1e3:.2f} ms/step | GEMM + topk floor {med['floor'] / S * 1e3:.2f} | "
          f"dense autograd {med['autograd'] / S * 1e3:.2f}")
    print(f"TopK      dense autograd / train_sae = {out['topk_speedup']:.2f}x (bar >= 3) | dense autograd / floor = "
          f"{out['topk_possible']:.2f}x (the most any TopK step could reach) | train_sae / floor = "
          f"{med['ours'] / med['floor']:.2f}")
    print(f"TopK      held-out loss after {S} steps: train_sae {loss_ours:.5f}, dense autograd {loss_auto:.5f}, "
          f"relative difference {out['topk_loss_rel']:.2%} (bar <= 2%)")

    # ---- JumpReLU and BatchTopK
    for act, name in (("jumprelu", "JumpReLU"), ("batchtopk", "BatchTopK")):
        med = _interleave({"ours": _Runner(lambda: _ours(act, batches, S)),
                           "autograd": _Runner(lambda: _plain(act, batches, S))}, R)
        out[f"{act}_speedup"] = med["autograd"] / med["ours"]
        print(f"{name:<9} train_sae {med['ours'] / S * 1e3:.2f} ms/step | plain autograd {med['autograd'] / S * 1e3:.2f} | "
              f"speed-up {out[f'{act}_speedup']:.2f}x (bar >= 1.5)")

    # ---- Gated (no bar): the hand-derived step against train_sae's own autograd reference path
    med = _interleave({"ours": _Runner(lambda: _ours("gated", batches, S)),
                       "autograd": _Runner(lambda: _ours("gated", batches, S, method="autograd"))}, R)
    out["gated_speedup"] = med["autograd"] / med["ours"]
    print(f"Gated     train_sae {med['ours'] / S * 1e3:.2f} ms/step | train_sae(method='autograd') "
          f"{med['autograd'] / S * 1e3:.2f} | speed-up {out['gated_speedup']:.2f}x (no bar)")
    return out


if __name__ == "__main__":
    main()
