"""Typical mistakes and correct variants for the exercises added to chapters 5, 6, 6b and 7 (function
exercises); tests/test_checks_mistakes.py runs them with every other checker's cases, including the
tests that every diagnosis is reachable and differs from the right answer."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch



# ---------------------------------------------------------------- 5.2 greedy swap

def _swap(An, S, *, vector="max", leave="small", u_full=False, signed=False, exclude=True, out="support"):
    cols = An[:, S]
    vecs = torch.linalg.eigh(cols.T @ cols).eigenvectors
    v = vecs[:, -1] if vector == "max" else vecs[:, 0]
    i = v.abs().argmin() if leave == "small" else v.abs().argmax()
    u = cols @ v if u_full else cols @ v - v[i] * cols[:, i]
    score = An.T @ u if signed else (An.T @ u).abs()
    if exclude:
        score[S] = -float("inf")
    if out == "incoming":
        return score.argmax()
    new = S.clone()
    new[i] = score.argmax()
    return new.double() if out == "float" else new


def _swap_np(An, S):
    An, S = An.numpy(), S.numpy()
    cols = An[:, S]
    v = np.linalg.eigh(cols.T @ cols)[1][:, -1]
    i = np.abs(v).argmin()
    score = np.abs(An.T @ (cols @ v - v[i] * cols[:, i]))
    score[S] = -np.inf
    new = S.copy()
    new[i] = score.argmax()
    return new


MISTAKES = [
    # 5.2 greedy swap
    ("greedy_swap", lambda An, S: _swap(An, S, leave="large"), "LARGEST weight"),
    ("greedy_swap", lambda An, S: _swap(An, S, vector="min"), "eigenvector of the smallest eigenvalue"),
    ("greedy_swap", lambda An, S: _swap(An, S, signed=True), "rank the candidate columns by |a_j . u|"),
    ("greedy_swap", lambda An, S: _swap(An, S, u_full=True), "remove the outgoing column's part"),
    ("greedy_swap", lambda An, S: _swap(An, S, exclude=False), "repeats a column"),
    ("greedy_swap", lambda An, S: _swap(An, S, out="incoming"), "not only the column that comes in"),
    ("greedy_swap", lambda An, S: _swap(An, S, out="float"), "integer column indices"),
    ("greedy_swap", lambda An, S: S.clone(), "did not change"),
    ("greedy_swap", lambda An, S: None, "returned None"),
    ("greedy_swap", lambda An, S: torch.cat([S, S[:1]]), "has shape (5,)"),
    ("greedy_swap", lambda An, S: (S + 1) % An.shape[1], "differs from the reference"),
]

VARIANTS = [
    ("greedy_swap", _swap_np),
    ("greedy_swap", lambda An, S: _swap(An.float(), S).sort().values),
]


# ---------------------------------------------------------------- 6.3 TopK, 6.6 JumpReLU backward

from superpos_lib.checks.sae import jumprelu_backward_reference as _jump_ref  # noqa: E402
from superpos_lib.checks.sae import topk_activation_reference as _topk_ref  # noqa: E402
from superpos_lib.sae import jumprelu  # noqa: E402


def _topk(pre, k, *, relu=True, mask=False, dim=-1, by_abs=False, largest=True):
    idx = (pre.abs() if by_abs else pre).topk(k, dim=dim, largest=largest).indices
    values = pre.gather(dim, idx)
    if mask:
        values = (values > 0).to(pre.dtype)
    elif relu:
        values = torch.relu(values)
    return torch.zeros_like(pre).scatter(dim, idx, values)


def _jump(pre, theta, eps, g, *, on="theta", chain_pre=True, reduce="sum", factor="theta", sign=-1.0, window=0.5,
          divide=True, chain_theta=True, swap=False):
    mask = {"theta": (pre > theta).to(pre.dtype), "zero": (pre > 0).to(pre.dtype), "all": torch.ones_like(pre)}[on]
    grad_pre = g * mask if chain_pre else mask
    kernel = ((pre - theta).abs() < window * eps).to(pre.dtype)
    per = sign * (theta if factor == "theta" else 1.0) / (eps if divide else 1.0) * kernel * (g if chain_theta else 1.0)
    grad_theta = {"sum": per.sum(0), "mean": per.mean(0), "none": per}[reduce]
    return (grad_theta, grad_pre) if swap else (grad_pre, grad_theta)


def _jump_autograd(pre, theta, eps, g):
    p, t = pre.clone().requires_grad_(True), theta.clone().requires_grad_(True)
    jumprelu(p, t, eps).backward(g)
    return p.grad, t.grad


MISTAKES += [
    # 6.3 TopK
    ("topk_activation", lambda pre, k: _topk(pre, k, relu=False), "not through a ReLU"),
    ("topk_activation", lambda pre, k: _topk(pre, k, mask=True), "0/1 mask"),
    ("topk_activation", lambda pre, k: _topk(pre, k, dim=0), "over the batch (dim=0)"),
    ("topk_activation", lambda pre, k: _topk(pre, k, by_abs=True), "largest |pre|"),
    ("topk_activation", lambda pre, k: _topk(pre, k, largest=False), "k smallest"),
    ("topk_activation", lambda pre, k: torch.relu(pre), "plain ReLU"),
    ("topk_activation", lambda pre, k: _topk(pre, 3), "ignores k"),
    ("topk_activation", lambda pre, k: pre.topk(k, dim=-1), "not the (values, indices)"),
    # 6.6 JumpReLU backward
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, on="zero"), "you used pre > 0"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, on="all"), "must be 0 where the latent is off"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, chain_pre=False), "grad_pre = grad_out * H"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, reduce="none"), "sum the threshold's gradient"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, reduce="mean"), "you averaged over the batch"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, factor="one"), "left out the factor theta"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, sign=1.0), "the sign is wrong"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, window=1.0), "window is too wide"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, divide=False), "divide by the bandwidth"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, chain_theta=False), "before summing over the batch"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g, swap=True), "in the order (grad_pre, grad_theta)"),
    ("jumprelu_backward", lambda p, t, e, g: _jump(p, t, e, g)[0], "return a pair"),
]

VARIANTS += [
    ("topk_activation", lambda pre, k: _topk_ref(torch.relu(pre), k)),
    ("topk_activation", lambda pre, k: torch.where(pre >= pre.topk(k, dim=-1).values[:, -1:], pre, 0.0).relu()),
    ("topk_activation", lambda pre, k: (lambda p: np.where(p >= np.sort(p, axis=-1)[:, -k][:, None], np.maximum(p, 0), 0))(
        pre.numpy().astype(np.float64))),
    ("jumprelu_backward", _jump_autograd),
    ("jumprelu_backward", lambda p, t, e, g: _jump_ref(p.double(), t.double(), e, g.double())),
    ("jumprelu_backward", lambda p, t, e, g: tuple(x.numpy() for x in _jump(p, t, e, g))),
]
# ---------------------------------------------------------------- end of chapter 6


# ---------------------------------------------------------------- 7.4 type entropy

def _type_entropy(types, *, log=math.log2, value="entropy"):
    out = []
    for row in types.tolist():
        k, counts = len(row), Counter(row).values()
        h = -sum(c / k * log(c / k) for c in counts)
        out.append({"entropy": h, "distinct": len(counts), "effective": 2 ** h, "negative": -h,
                    "counts": -sum(c * math.log2(c) for c in counts), "positions": math.log2(k)}[value])
    return torch.tensor(out, dtype=torch.float64)


def _pooled_entropy(types):
    q = torch.bincount(types.flatten()).double()
    q = q[q > 0] / types.numel()
    return torch.full((types.shape[0],), float(-(q * q.log2()).sum()))


def _dense_entropy(types):  # a histogram over every id: 0 * log 0 = NaN
    q = torch.stack([torch.bincount(r, minlength=int(types.max()) + 1).double() for r in types]) / types.shape[1]
    return -(q * q.log2()).sum(1)


MISTAKES += [
    ("type_entropy", lambda t: _type_entropy(t, log=math.log), "natural log"),
    ("type_entropy", lambda t: _type_entropy(t, value="distinct"), "number of distinct token types"),
    ("type_entropy", lambda t: _type_entropy(t, value="effective"), "2**H"),
    ("type_entropy", lambda t: _type_entropy(t, value="negative"), "minus sign"),
    ("type_entropy", lambda t: _type_entropy(t, value="counts"), "counts instead of the fractions"),
    ("type_entropy", lambda t: _type_entropy(t, value="positions"), "counted positions"),
    ("type_entropy", _pooled_entropy, "pooled all units"),
    ("type_entropy", _dense_entropy, "0 log 0 counts as 0"),
    ("type_entropy", lambda t: (_type_entropy(t), _type_entropy(t, value="distinct")), "entropies alone"),
    ("type_entropy", lambda t: None, "should be a tensor"),
]

VARIANTS += [
    ("type_entropy", lambda t: _type_entropy(t).float()),
    ("type_entropy", lambda t: torch.stack([(lambda c: -(c / c.sum() * (c / c.sum()).log2()).sum())(
        torch.unique(r, return_counts=True)[1].double()) for r in t])),
    ("type_entropy", lambda t: np.array([-sum(c / t.shape[1] * np.log2(c / t.shape[1])
                                              for c in np.unique(r, return_counts=True)[1]) for r in t.numpy()])),
]


# ---------------------------------------------------------------- 6b.2 AuxK loss

def _auxk(pre, dead, W_dec, e, k, *, only_dead=True, relu=True, denominator="centred", fill=float("-inf")):
    masked = pre.masked_fill(~dead, fill) if only_dead else pre
    values, indices = masked.topk(k, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, indices, torch.relu(values) if relu else values)
    err = (z @ W_dec - e).pow(2).sum(-1).mean()
    return {"centred": err / (e - e.mean(0)).pow(2).sum(-1).mean(), "none": err,
            "uncentred": err / e.pow(2).sum(-1).mean(),
            "global mean": err / (e - e.mean()).pow(2).sum(-1).mean(), "unbiased": err / e.var(0).sum()}[denominator]


def _auxk_dead_columns(pre, dead, W_dec, e, k, *, clamp_k=False):
    """AuxK on the dead columns only (pre[:, dead]): right when at least k_aux latents are dead."""
    pd = pre[:, dead]
    values, indices = pd.topk(min(k, int(dead.sum())) if clamp_k else k, dim=-1)
    z = torch.zeros_like(pd).scatter(-1, indices, torch.relu(values))
    return (z @ W_dec[dead] - e).pow(2).sum(-1).mean() / (e - e.mean(0)).pow(2).sum(-1).mean()


MISTAKES += [
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, only_dead=False), "uses only the dead ones"),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, relu=False), "go through a ReLU"),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, denominator="none"), "plain squared error"),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, denominator="uncentred"), "centre the residual"),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, denominator="global mean"), "mean residual vector"),
    ("auxk_loss", lambda p, d, W, e, k: (_auxk(p, d, W, e, k), None), "return the loss alone"),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, denominator="unbiased"), "divides by B - 1"),
    ("auxk_loss", _auxk_dead_columns, "fewer latents than k_aux are dead"),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k) / W.shape[1], "differs from the reference"),
]

VARIANTS += [
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p * d, torch.ones_like(d), W, e, k)),  # zeroed live latents: same after ReLU
    ("auxk_loss", lambda p, d, W, e, k: float(_auxk(p.double(), d, W.double(), e.double(), k))),
    ("auxk_loss", lambda p, d, W, e, k: _auxk(p, d, W, e, k, fill=-1e9)),
    ("auxk_loss", lambda p, d, W, e, k: _auxk_dead_columns(p, d, W, e, k, clamp_k=True)),
]


# ---------------------------------------------------------------- 6.4 an SAE training step

from superpos_lib.checks.sae import sae_forward_reference as _sae_fwd  # noqa: E402
from superpos_lib.checks.sae import sae_loss_reference as _sae_loss  # noqa: E402


def _step(params, x, lam, opt, *, zero=True, renorm="rows", when="after", ret="before", in_place=True, grad_mode=False):
    """One ReLU-SAE step with the given mistake."""
    W_dec = params[2]
    if zero:
        opt.zero_grad()
    x_hat, z = _sae_fwd(x, *params)
    loss = _sae_loss(x, x_hat, z, W_dec, lam)
    loss.backward()

    def normalise():
        if grad_mode:
            W_dec.div_(W_dec.norm(dim=1, keepdim=True))
            return
        with torch.no_grad():
            if not in_place:
                _ = W_dec / W_dec.norm(dim=1, keepdim=True)  # a new tensor; the parameter stays as it was
            elif renorm == "rows":
                W_dec.div_(W_dec.norm(dim=1, keepdim=True))
            elif renorm == "cols":
                W_dec.div_(W_dec.norm(dim=0, keepdim=True))

    if when == "before":
        normalise()
    if when != "no step":
        opt.step()
    if when == "after":
        normalise()
    if ret == "after":
        x_hat, z = _sae_fwd(x, *params)
        return _sae_loss(x, x_hat, z, W_dec, lam).item()
    return None if ret == "none" else loss.item()


def _step_zero_between(params, x, lam, opt):
    x_hat, z = _sae_fwd(x, *params)
    _sae_loss(x, x_hat, z, params[2], lam).backward()
    opt.zero_grad()
    opt.step()
    return 0.0


def _step_float64(params, x, lam, opt):
    opt.zero_grad()
    p64 = [p.double() for p in params]  # the graph still reaches the float32 parameters
    x_hat, z = _sae_fwd(x.double(), *p64)
    loss = _sae_loss(x.double(), x_hat, z, p64[2], lam)
    loss.backward()
    opt.step()
    with torch.no_grad():
        params[2].copy_(torch.nn.functional.normalize(params[2], dim=1))
    return loss  # a 0-d tensor that still requires grad


MISTAKES += [
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, zero=False), "left over from before"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, renorm="none"), "rows are not unit norm"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, in_place=False), "rows are not unit norm"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, renorm="cols"), "not each column"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, when="before"), "before the optimizer's step"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, ret="after"), "not one recomputed after it"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, ret="none"), "returned None"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, grad_mode=True), "inside `with torch.no_grad():`"),
    ("sae_train_step", _step_zero_between, "did not change"),
    ("sae_train_step", lambda p, x, l, o: _step(p, x, l, o, when="no step", renorm="none"), "did not change"),
]

VARIANTS += [
    ("sae_train_step", _step),
    ("sae_train_step", _step_float64),
]
