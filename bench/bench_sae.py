"""Benchmark: SAE training steps on the CPU (issue 6).

Same data, same process, interleaved runs, medians. Prints:

* ReLU SAE (d_in=128, d_sae=1024, batch 2048): the library's step time divided by the time of the
  five bare GEMMs a step must do (forward: encoder, decoder; backward: decoder weight gradient,
  latent gradient, encoder weight gradient), and divided by a plain autograd + torch.optim.Adam
  loop written as a user would. Bars: <= 1.3 and < 1.
* TopK SAE (k=16, same shapes): the library's sparse step against the dense autograd TopK loop.
  Bars: >= 2x faster, final loss within 2% (both trained from the same init on the same batches).

Run: ``python bench/bench_sae.py [--steps 200] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from superpos_lib.sae import (
    SparseAutoencoder,
    _Adam,
    _project_decoder_grad,
    _relu_grads,
    _topk_grads,
    _Workspace,
    synthetic_features,
)

D_IN, D_SAE, BATCH, K, L1 = 128, 1024, 2048, 16, 0.1


class _Ours:
    """The library's training step (what train_sae runs), one instance."""

    def __init__(self, act, lr=1e-3):
        self.sae = SparseAutoencoder(D_IN, D_SAE, activation=act, k=K if act == "topk" else None, seed=0)
        self.act = act
        self.ws = _Workspace(self.sae, BATCH)
        self.opt = _Adam([p.data for p in self.sae.parameters()], lr)
        self.lam = torch.tensor([L1 if act == "relu" else 0.0])

    def step(self, x):
        s = self.sae
        if self.act == "relu":
            grads, _, _ = _relu_grads(s, x, self.lam, self.ws, False)
        else:
            grads, _, _ = _topk_grads(s, x, None, 0.0, 1, self.ws, False)
        with torch.no_grad():
            grads[2] = _project_decoder_grad(s.W_dec.detach(), grads[2])
        self.opt.step(grads)
        s.normalize_decoder()


class _Autograd:
    """A plain PyTorch loop: 2-D parameters, autograd, torch.optim.Adam (same init as _Ours)."""

    def __init__(self, act, lr=1e-3):
        ref = SparseAutoencoder(D_IN, D_SAE, seed=0)
        self.W_enc = ref.W_enc.detach()[0].clone().requires_grad_()
        self.b_enc = ref.b_enc.detach()[0].clone().requires_grad_()
        self.W_dec = ref.W_dec.detach()[0].clone().requires_grad_()
        self.b_dec = ref.b_dec.detach()[0].clone().requires_grad_()
        self.params = [self.W_enc, self.b_enc, self.W_dec, self.b_dec]
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.act = act

    def loss(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        if self.act == "relu":
            z = torch.relu(pre)
        else:
            v, i = pre.topk(K, dim=-1)
            z = torch.zeros_like(pre).scatter(-1, i, torch.relu(v))
        x_hat = z @ self.W_dec + self.b_dec
        loss = (x_hat - x).pow(2).sum(-1).mean()
        if self.act == "relu":
            loss = loss + L1 * (z * self.W_dec.norm(dim=-1)).sum(-1).mean()
        return loss

    def step(self, x):
        self.opt.zero_grad(set_to_none=True)
        self.loss(x).backward()
        with torch.no_grad():
            W = self.W_dec
            W.grad -= (W.grad * W).sum(-1, keepdim=True) * W
        self.opt.step()
        with torch.no_grad():
            W.div_(W.norm(dim=-1, keepdim=True))


class _Gemms:
    """The five bare matrix products of a dense step, at the same shapes."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(BATCH, D_IN, generator=g)
        self.W = torch.randn(D_IN, D_SAE, generator=g)
        self.Wd = torch.randn(D_SAE, D_IN, generator=g)
        self.z = torch.randn(BATCH, D_SAE, generator=g)
        self.gx = torch.randn(BATCH, D_IN, generator=g)

    def step(self, x=None):
        torch.mm(self.x, self.W)
        torch.mm(self.z, self.Wd)
        torch.mm(self.z.t(), self.gx)
        torch.mm(self.gx, self.Wd.t())
        torch.mm(self.x.t(), self.z)


def _timed(fn, x):
    t0 = time.perf_counter()
    fn(x)
    return time.perf_counter() - t0


def _interleave(runners: dict, batches, steps, warmup=3):
    for name, r in runners.items():
        for x in batches[:warmup]:
            r.step(x)
    times = {name: [] for name in runners}
    names = list(runners)
    for s in range(steps):
        x = batches[s % len(batches)]
        order = names[s % len(names):] + names[: s % len(names)]  # rotate who goes first
        for name in order:
            times[name].append(_timed(runners[name].step, x))
    return {name: statistics.median(t) for name, t in times.items()}


@torch.no_grad()
def _eval_loss_ours(r, x):
    x_hat, z = r.sae(x)
    return (x_hat[0] - x).pow(2).sum(-1).mean().item()


@torch.no_grad()
def _eval_loss_autograd(r, x):
    r_act = r.act
    loss = r.loss(x) if r_act == "topk" else None
    return loss.item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    feats = synthetic_features(512, D_IN, seed=0)
    batches = [feats(BATCH) for _ in range(20)]
    held_out = feats(8192)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, d_in={D_IN}, d_sae={D_SAE}, "
          f"batch={BATCH}, k={K}, {args.steps} steps; medians of interleaved per-step times")

    # ---- ReLU
    ours, auto = _Ours("relu"), _Autograd("relu")
    med = _interleave({"ours": ours, "autograd": auto, "gemms": _Gemms()}, batches, args.steps)
    r_gemm, r_auto = med["ours"] / med["gemms"], med["ours"] / med["autograd"]
    print(f"ReLU  step: ours {med['ours'] * 1e3:.2f} ms | 5 bare GEMMs {med['gemms'] * 1e3:.2f} ms | "
          f"autograd+Adam {med['autograd'] * 1e3:.2f} ms")
    print(f"ReLU  ours / bare GEMMs = {r_gemm:.2f} (bar <= 1.3) | ours / autograd = {r_auto:.2f} (bar < 1) | "
          f"autograd / bare GEMMs = {med['autograd'] / med['gemms']:.2f}")

    # ---- TopK
    ours, auto = _Ours("topk"), _Autograd("topk")
    med = _interleave({"ours": ours, "autograd": auto}, batches, args.steps)
    loss_ours, loss_auto = _eval_loss_ours(ours, held_out), _eval_loss_autograd(auto, held_out)
    speed = med["autograd"] / med["ours"]
    rel = abs(loss_ours - loss_auto) / loss_auto
    print(f"TopK  step: ours (sparse) {med['ours'] * 1e3:.2f} ms | dense autograd+Adam {med['autograd'] * 1e3:.2f} ms")
    print(f"TopK  speed-up = {speed:.2f}x (bar >= 2) | held-out loss after {args.steps + 3} steps: ours {loss_ours:.5f}, "
          f"autograd {loss_auto:.5f}, relative difference {rel:.2%} (bar <= 2%)")
    return {"relu_over_gemms": r_gemm, "relu_over_autograd": r_auto, "topk_speedup": speed, "topk_loss_rel": rel}


if __name__ == "__main__":
    main()
