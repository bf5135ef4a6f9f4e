"""Checkers for chapter 6 (sparse autoencoders)."""

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
