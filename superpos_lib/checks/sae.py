"""Checkers for chapter 6 (sparse autoencoders): forward pass, loss, a training step, MMCS, the TopK
rule and the JumpReLU straight-through gradients; and chapter 6b (resampling and AuxK)."""

import torch

from ._core import Mismatch, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _params(seed=0, d=6, m=10):
    g = _gen(seed)
    W_enc = torch.randn(d, m, generator=g) / d**0.5
    b_enc = 0.1 * torch.randn(m, generator=g)
    W_dec = torch.randn(m, d, generator=g)
    W_dec = W_dec / W_dec.norm(dim=1, keepdim=True)
    b_dec = 0.3 * torch.randn(d, generator=g)
    x = torch.randn(7, d, generator=g)
    return x, W_enc, b_enc, W_dec, b_dec


def sae_forward_reference(x, W_enc, b_enc, W_dec, b_dec):
    """ReLU SAE: ``z = ReLU((x - b_dec) W_enc + b_enc)``, ``x_hat = z W_dec + b_dec``; returns ``(x_hat, z)``."""
    z = torch.relu((x - b_dec) @ W_enc + b_enc)
    return z @ W_dec + b_dec, z


def sae_loss_reference(x, x_hat, z, W_dec, l1_coeff):
    """``mean_b ||x_b - x_hat_b||^2 + l1_coeff * mean_b sum_i z_bi ||W_dec[i]||`` (a 0-d tensor)."""
    mse = (x - x_hat).pow(2).sum(-1).mean()
    return mse + l1_coeff * (z * W_dec.norm(dim=1)).sum(-1).mean()


def mmcs_reference(learned, true):
    """Mean over true rows of the largest (signed) cosine similarity with a learned row (0-d tensor)."""
    a = true / true.norm(dim=1, keepdim=True)
    b = learned / learned.norm(dim=1, keepdim=True)
    return (a @ b.T).amax(dim=1).mean()


def resample_decoder_rows_reference(W_dec, dead, x_chosen, b_dec):
    """Dead rows of ``W_dec (m, d)`` become unit-norm ``x_chosen - b_dec``; live rows stay."""
    new = x_chosen - b_dec
    new = new / new.norm(dim=1, keepdim=True)
    return torch.where(dead[:, None], new, W_dec)


@register("sae_forward", reference=sae_forward_reference)
def check_sae_forward(fn):
    """``fn(x, W_enc, b_enc, W_dec, b_dec) -> (x_hat, z)`` for one ReLU SAE; ``x (batch, d_in)``."""
    x, W_enc, b_enc, W_dec, b_dec = _params()
    z = torch.relu((x - b_dec) @ W_enc + b_enc)
    x_hat = z @ W_dec + b_dec
    got = call_student(fn, x.clone(), W_enc.clone(), b_enc.clone(), W_dec.clone(), b_dec.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch("return a pair (x_hat, z): the reconstruction and the latents.")
    got_x_hat, got_z = got
    if (tuple(getattr(got_x_hat, "shape", ())) == tuple(z.shape)
            and tuple(getattr(got_z, "shape", ())) == tuple(x_hat.shape)):
        raise Mismatch("you returned (z, x_hat); return them in the order (x_hat, z).")
    compare(got_z, z, what="your latents z", diagnoses={
        "did you forget the ReLU on the latents?": (x - b_dec) @ W_enc + b_enc,
        "subtract b_dec from x before encoding: z = ReLU((x - b_dec) W_enc + b_enc).": torch.relu(x @ W_enc + b_enc),
        "the encoder bias b_enc is missing.": torch.relu((x - b_dec) @ W_enc),
        "add b_enc before the ReLU, not after it: z = ReLU((x - b_dec) W_enc + b_enc).":
            torch.relu((x - b_dec) @ W_enc) + b_enc,
        "you added b_dec to x before encoding; subtract it: z = ReLU((x - b_dec) W_enc + b_enc).":
            torch.relu((x + b_dec) @ W_enc + b_enc),
    })
    compare(got_x_hat, x_hat, what="your reconstruction x_hat", diagnoses={
        "add the decoder bias b_dec back after decoding.": z @ W_dec,
        "the ReLU belongs on the latents, not on the reconstruction.": torch.relu(z @ W_dec + b_dec),
        "you decoded with W_enc.T (tied weights); this SAE has its own decoder W_dec.": z @ W_enc.T + b_dec,
    })


@register("sae_loss", reference=sae_loss_reference)
def check_sae_loss(fn):
    """``fn(x, x_hat, z, W_dec, l1_coeff) -> scalar``: mean over the batch of the squared error
    summed over coordinates, plus ``l1_coeff`` times the mean of ``sum_i z_i ||W_dec[i]||``."""
    x, _, _, W_dec, _ = _params(1)
    g = _gen(2)
    W_dec = W_dec * (0.5 + torch.rand(W_dec.shape[0], 1, generator=g))  # rows NOT unit norm here
    x_hat = x + 0.3 * torch.randn(x.shape, generator=g)
    z = torch.relu(torch.randn(x.shape[0], W_dec.shape[0], generator=g))
    lam = 0.2
    norms = W_dec.norm(dim=1)
    mse = (x - x_hat).pow(2).sum(-1).mean()
    expected = mse + lam * (z * norms).sum(-1).mean()
    got = call_student(fn, x.clone(), x_hat.clone(), z.clone(), W_dec.clone(), lam)
    compare(got, expected, what="your loss", diagnoses={
        "the penalty belongs on the latents z, not on the input x (||x||_1 does not depend on the SAE, "
        "so it cannot make the latents sparse).": mse + lam * x.abs().sum(-1).mean(),
        "weight each latent by the norm of its decoder row, ||W_dec[i]||.": mse + lam * z.sum(-1).mean(),
        "sum the squared error over coordinates (then average over the batch), not a plain mean.":
            (x - x_hat).pow(2).mean() + lam * (z * norms).sum(-1).mean(),
        "weight each latent by the norm ||W_dec[i]||, not by its square.":
            mse + lam * (z * norms**2).sum(-1).mean(),
        "you summed over the batch; both terms are means over the batch.":
            (x - x_hat).pow(2).sum() + lam * (z * norms).sum(),
        "you averaged the penalty over the latents; sum it over the latents, then average over the batch.":
            mse + lam * (z * norms).mean(),
        "the reconstruction term is the squared error ||x - x_hat||^2, not the norm ||x - x_hat||.":
            (x - x_hat).norm(dim=-1).mean() + lam * (z * norms).sum(-1).mean(),
        "l1_coeff multiplies the sparsity penalty only, not the reconstruction error.":
            lam * mse + (z * norms).sum(-1).mean(),
        "the penalty is the L1 norm of z (weighted by decoder norms), not the squared L2 norm.":
            mse + lam * (z.pow(2) * norms).sum(-1).mean(),
    })


@register("mmcs", reference=mmcs_reference)
def check_mmcs(fn):
    """``fn(learned (n_learned, d), true (n_true, d)) -> scalar``: mean over true directions of the
    best cosine similarity with a learned direction."""
    g = _gen(3)
    true = torch.randn(5, 4, generator=g)
    learned = torch.cat([3.0 * true[:3] + 0.2 * torch.randn(3, 4, generator=g), torch.randn(4, 4, generator=g)])
    learned[4] = -2.0 * true[3] + 0.1 * torch.randn(4, generator=g)  # points away from true feature 3
    a = true / true.norm(dim=1, keepdim=True)
    b = learned / learned.norm(dim=1, keepdim=True)
    cos = a @ b.T  # (n_true, n_learned)
    expected = cos.amax(1).mean()
    got = call_student(fn, learned.clone(), true.clone())
    compare(got, expected, what="your MMCS", diagnoses={
        "take the max over learned directions for each TRUE feature (you averaged over learned ones).": cos.amax(0).mean(),
        "normalise the rows: MMCS uses cosine similarities, not dot products.": (true @ learned.T).amax(1).mean(),
        "the sign matters: a latent pointing the opposite way does not recover a feature (drop the abs).": cos.abs().amax(1).mean(),
        "you took the mean of all cosines; MMCS takes, for each true feature, the best (max) cosine, then the mean.":
            cos.mean(),
        "normalise both sets of rows (learned and true) before taking dot products.":
            (a @ learned.T).amax(1).mean(),
        "normalise both sets of rows (learned and true) before taking dot products. ":
            (true @ b.T).amax(1).mean(),
        "normalise the rows (each direction), not the columns.":
            ((true / true.norm(dim=0)) @ (learned / learned.norm(dim=0)).T).amax(1).mean(),
        "you took the median over true features; MMCS is the mean.": cos.amax(1).median(),
    })


@register("resample_decoder_rows", reference=resample_decoder_rows_reference)
def check_resample_decoder_rows(fn):
    """``fn(W_dec (m, d), dead (m,) bool, x_chosen (m, d), b_dec (d,)) -> new W_dec``: dead rows
    become ``(x_chosen - b_dec)`` normalised to unit length; live rows are unchanged."""
    x, _, _, W_dec, b_dec = _params(4)
    g = _gen(5)
    dead = torch.rand(W_dec.shape[0], generator=g) < 0.4
    dead[0], dead[1] = True, False
    x_chosen = torch.randn(W_dec.shape, generator=g)
    new = (x_chosen - b_dec) / (x_chosen - b_dec).norm(dim=1, keepdim=True)
    expected = torch.where(dead[:, None], new, W_dec)
    got = call_student(fn, W_dec.clone(), dead.clone(), x_chosen.clone(), b_dec.clone())
    compare(got, expected, what="your new W_dec", diagnoses={
        "normalise each new row to unit length.": torch.where(dead[:, None], x_chosen - b_dec, W_dec),
        "subtract b_dec from the chosen inputs first.": torch.where(dead[:, None], x_chosen / x_chosen.norm(dim=1, keepdim=True), W_dec),
        "only the dead rows change; keep the live ones.": new,
        "you added b_dec; subtract it: the new rows are (x_chosen - b_dec) / ||x_chosen - b_dec||.":
            torch.where(dead[:, None], (x_chosen + b_dec) / (x_chosen + b_dec).norm(dim=1, keepdim=True), W_dec),
        "the new rows point the wrong way: use x_chosen - b_dec, not b_dec - x_chosen.":
            torch.where(dead[:, None], -new, W_dec),
        "normalise each row over its d coordinates (dim=1), not over the latents (dim=0).":
            torch.where(dead[:, None], (x_chosen - b_dec) / (x_chosen - b_dec).norm(dim=0, keepdim=True), W_dec),
        "you replaced the live rows and kept the dead ones: the mask is inverted.":
            torch.where(~dead[:, None], new, W_dec),
    })


# ---------------------------------------------------------------- a training step

def sae_train_step_reference(params, x, l1_coeff, optimizer):
    """One training step of a ReLU SAE. ``params = [W_enc (d_in, d_sae), b_enc (d_sae,), W_dec (d_sae, d_in),
    b_dec (d_in,)]`` (tensors with ``requires_grad``), ``x (batch, d_in)``, ``optimizer`` over ``params``: zero the
    gradients, compute the loss (forward pass and loss as in exercises 6.1 and 6.2), back-propagate, take the
    optimizer's step, then rescale every decoder row to unit norm in place. Returns the loss before the step (a float)."""
    W_enc, b_enc, W_dec, b_dec = params
    optimizer.zero_grad()
    x_hat, z = sae_forward_reference(x, W_enc, b_enc, W_dec, b_dec)
    loss = sae_loss_reference(x, x_hat, z, W_dec, l1_coeff)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=1, keepdim=True)
    return loss.item()


def _step_case():
    """A ReLU SAE whose decoder rows are not unit norm (so renormalising, or not, shows), a batch, and
    stale gradients left in ``.grad`` (so a step that does not zero them shows)."""
    x, W_enc, b_enc, W_dec, b_dec = _params(8)
    g = _gen(9)
    W_dec = W_dec * (0.6 + 0.8 * torch.rand(W_dec.shape[0], 1, generator=g))
    stale = [torch.randn(p.shape, generator=g) for p in (W_enc, b_enc, W_dec, b_dec)]
    return x, [W_enc, b_enc, W_dec, b_dec], stale


def _loss_and_grads(x, params, lam):
    leaves = [p.clone().requires_grad_(True) for p in params]
    x_hat, z = sae_forward_reference(x, *leaves)
    loss = sae_loss_reference(x, x_hat, z, leaves[2], lam)
    return loss.detach(), torch.autograd.grad(loss, leaves)


_LR = 0.05


@register("sae_train_step", reference=sae_train_step_reference)
def check_sae_train_step(fn):
    """``fn(params, x, l1_coeff, optimizer) -> loss``: one optimizer step on the ReLU SAE loss followed by
    unit-norm decoder rows; checked with plain SGD, whose step shows exactly which gradient was used."""
    x, start, stale = _step_case()
    lam = 0.3
    params = [p.clone().requires_grad_(True) for p in start]
    for p, s in zip(params, stale):
        p.grad = s.clone()
    optimizer = torch.optim.SGD(params, lr=_LR)
    try:
        got_loss = call_student(fn, params, x.clone(), lam, optimizer)
    except Mismatch as error:
        if "leaf Variable" in str(error):
            raise Mismatch(f"{error} Change W_dec in place inside `with torch.no_grad():`, where autograd does not "
                           "record the operation.") from None
        raise
    loss0, grads = _loss_and_grads(x, start, lam)
    stepped = [p - _LR * g for p, g in zip(start, grads)]
    unit = stepped[2] / stepped[2].norm(dim=1, keepdim=True)
    with_stale = [p - _LR * (g + s) for p, g, s in zip(start, grads, stale)]
    if got_loss is None:
        raise Mismatch("your step returned None: return the loss, computed before the optimizer's step (loss.item()).")
    got_W_dec = params[2].detach()
    if torch.equal(got_W_dec, start[2]) and torch.equal(params[0].detach(), start[0]):
        raise Mismatch("the parameters did not change: call loss.backward() and then optimizer.step() (zero the "
                       "gradients before the backward pass, not between it and the step).")
    names = ("W_enc", "b_enc")
    for i, name in enumerate(names):
        compare(params[i].detach(), stepped[i], what=f"{name} after your step", diagnoses={
            "your step also used the gradients left over from before: call optimizer.zero_grad() first.": with_stale[i],
        })
    compare(got_W_dec, unit, what="W_dec after your step", diagnoses={
        "W_dec's rows are not unit norm after your step: rescale them in place under torch.no_grad(), "
        "W_dec /= W_dec.norm(dim=1, keepdim=True), after optimizer.step() (W_dec = W_dec / ... makes a new "
        "tensor and leaves the optimizer's one unchanged).": stepped[2],
        "normalise each decoder row (dim=1, one norm per latent), not each column.":
            stepped[2] / stepped[2].norm(dim=0, keepdim=True),
        "you normalised W_dec before the optimizer's step; normalise after it, so the rows end at unit norm.":
            start[2] / start[2].norm(dim=1, keepdim=True) - _LR * grads[2],
        "your step also used the gradients left over from before: call optimizer.zero_grad() first.":
            with_stale[2] / with_stale[2].norm(dim=1, keepdim=True),
    })
    after = _loss_and_grads(x, [p.detach() for p in params], lam)[0]
    compare(torch.as_tensor(got_loss, dtype=torch.float64).detach(), loss0.double(), what="the loss you returned", diagnoses={
        "return the loss computed before the step (the one you called backward on), not one recomputed after it.":
            after.double(),
    })


# ---------------------------------------------------------------- activation rules

def topk_activation_reference(pre, k):
    """TopK rule: in each row of ``pre (batch, d_sae)`` keep the ``k`` largest entries through a ReLU, 0 elsewhere."""
    values, indices = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))


def _topk_case():
    """Pre-activations with distinct values; row 1 has only 2 positive entries, fewer than k = 3."""
    pre = torch.randn(6, 9, generator=_gen(6))
    pre[1] = -pre[1].abs() - 0.1
    pre[1, 2], pre[1, 7] = 0.8, 0.3
    pre[3, 4] = -3.0  # the entry of largest |pre| in row 3 is negative
    return pre


@register("topk_activation", reference=topk_activation_reference)
def check_topk_activation(fn):
    """``fn(pre, k)``: ``pre (batch, d_sae)`` -> latents of the same shape, the ``k`` largest entries of each
    row through a ReLU, every other entry 0."""
    pre, k = _topk_case(), 3
    expected = topk_activation_reference(pre, k)
    values, indices = pre.topk(k, dim=-1)
    got = call_student(fn, pre.clone(), k)
    if isinstance(got, (tuple, list)):
        raise Mismatch("return the latents themselves, one tensor of the shape of pre (zeros where a latent is "
                       "off), not the (values, indices) that topk gives.")
    by_abs = pre.gather(-1, pre.abs().topk(k, dim=-1).indices)
    compare(got, expected, what="your latents", diagnoses={
        "you kept the k largest entries but not through a ReLU: in a row with fewer than k positive "
        "pre-activations a negative one survived (latents are never negative).":
            torch.zeros_like(pre).scatter(-1, indices, values),
        "you returned a 0/1 mask of the winners; keep their values (through a ReLU).":
            torch.zeros_like(pre).scatter(-1, indices, (values > 0).float()),
        "you took the top k over the batch (dim=0) for each latent; take it over the latents (dim=-1) of "
        "each sample.": torch.zeros_like(pre).scatter(0, pre.topk(k, dim=0).indices, torch.relu(pre.topk(k, dim=0).values)),
        "you kept the k entries of largest |pre|; TopK keeps the k largest (most positive) pre-activations.":
            torch.zeros_like(pre).scatter(-1, pre.abs().topk(k, dim=-1).indices, torch.relu(by_abs)),
        "you kept the k smallest entries: use the largest (topk's default, largest=True).":
            torch.zeros_like(pre).scatter(-1, pre.topk(k, dim=-1, largest=False).indices,
                                          torch.relu(pre.topk(k, dim=-1, largest=False).values)),
        "you applied a plain ReLU: TopK also sets every latent outside the k largest to 0.": torch.relu(pre),
    })
    got1 = call_student(fn, pre.clone(), 1)
    compare(got1, topk_activation_reference(pre, 1), what="your latents with k = 1",
            diagnoses={"your function ignores k (with k = 1 only the largest entry of each row stays).":
                       expected})


def jumprelu_backward_reference(pre, theta, eps, grad_out):
    """Straight-through gradients of ``z = pre * H(pre - theta)`` (Rajamanoharan et al.): ``pre (batch, m)``,
    ``theta (m,)``, bandwidth ``eps``, ``grad_out = dL/dz (batch, m)``. Returns ``(grad_pre (batch, m),
    grad_theta (m,))`` with ``grad_pre = grad_out * H(pre - theta)`` and ``grad_theta = sum over the batch of
    -(theta / eps) * K((pre - theta) / eps) * grad_out``, ``K(u) = 1[|u| < 1/2]``."""
    window = ((pre - theta).abs() < eps / 2).to(pre.dtype)
    grad_pre = grad_out * (pre > theta).to(pre.dtype)
    grad_theta = (-(theta / eps) * window * grad_out).sum(0)
    return grad_pre, grad_theta


def _jump_case():
    g = _gen(7)
    theta = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.8])
    eps = 0.4
    # offsets from the threshold in units of eps: inside the window (|u| < 1/2), just outside it (1/2 < |u| < 1),
    # and far away; every latent gets some of each
    u = torch.tensor([[-0.3, 0.2, 0.7, -2.0, 0.4], [0.1, -0.8, -0.4, 0.3, 3.0], [0.45, 0.35, 0.1, -0.6, -0.2],
                      [-3.0, 0.6, -0.15, 0.25, 0.9], [0.8, -0.1, 2.5, -0.35, -0.7], [-0.6, 4.0, 0.3, 0.05, 0.15]])
    pre = theta + eps * u
    pre[0, 3] = 0.3  # positive but below its threshold: pre > 0 differs from pre > theta
    pre[4, 0] = -0.2  # negative, far below its threshold
    grad_out = torch.randn(6, 5, generator=g)
    return pre, theta, eps, grad_out


@register("jumprelu_backward", reference=jumprelu_backward_reference)
def check_jumprelu_backward(fn):
    """``fn(pre, theta, eps, grad_out) -> (grad_pre, grad_theta)``, the JumpReLU straight-through gradients."""
    pre, theta, eps, grad_out = _jump_case()
    grad_pre, grad_theta = jumprelu_backward_reference(pre, theta, eps, grad_out)
    got = call_student(fn, pre.clone(), theta.clone(), eps, grad_out.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch("return a pair (grad_pre, grad_theta).")
    got_pre, got_theta = (torch.as_tensor(t) for t in got)
    if got_pre.shape == theta.shape and got_theta.shape == pre.shape:
        raise Mismatch("you returned (grad_theta, grad_pre); return them in the order (grad_pre, grad_theta).")
    on = (pre > theta).to(pre.dtype)
    compare(got_pre, grad_pre, what="your grad_pre", diagnoses={
        "grad_pre is the ordinary derivative of pre * H(pre - theta): grad_out where pre > theta, 0 elsewhere "
        "(you used pre > 0, the ReLU's).": grad_out * (pre > 0).to(pre.dtype),
        "grad_pre must be 0 where the latent is off (pre <= theta): multiply grad_out by H(pre - theta).": grad_out,
        "multiply by grad_out (the chain rule): grad_pre = grad_out * H(pre - theta).": on,
    })
    window = ((pre - theta).abs() < eps / 2).to(pre.dtype)
    wide = ((pre - theta).abs() < eps).to(pre.dtype)
    per_sample = -(theta / eps) * window * grad_out
    compare(got_theta, grad_theta, what="your grad_theta", diagnoses={
        "sum the threshold's gradient over the batch: theta is shared by every sample, so grad_theta has shape "
        "(m,).": per_sample,
        "you averaged over the batch; the gradient of a sum over samples is the sum of their gradients.":
            per_sample.mean(0),
        "you left out the factor theta: that is the pseudo-derivative of the step H(pre - theta), -(1/eps) K; "
        "for JumpReLU = pre * H(pre - theta) it is -(theta/eps) K.": (-(1 / eps) * window * grad_out).sum(0),
        "the sign is wrong: raising theta switches latents off, so d z / d theta = -(theta/eps) K.": -grad_theta,
        "the kernel's window is too wide: K(u) = 1 for |u| < 1/2, so only |pre - theta| < eps/2 counts.":
            (-(theta / eps) * wide * grad_out).sum(0),
        "divide by the bandwidth eps: the pseudo-derivative is -(theta/eps) K((pre - theta)/eps).":
            (-theta * window * grad_out).sum(0),
        "multiply by grad_out (the chain rule) before summing over the batch.": (-(theta / eps) * window).sum(0),
    })
