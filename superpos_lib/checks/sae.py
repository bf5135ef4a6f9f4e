"""Checkers for chapter 6 (sparse autoencoders)."""

import torch

from ._core import Mismatch, call_student, compare, register


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


@register("sae_forward")
def check_sae_forward(fn):
    """``fn(x, W_enc, b_enc, W_dec, b_dec) -> (x_hat, z)`` for one ReLU SAE; ``x (batch, d_in)``."""
    x, W_enc, b_enc, W_dec, b_dec = _params()
    z = torch.relu((x - b_dec) @ W_enc + b_enc)
    x_hat = z @ W_dec + b_dec
    got = call_student(fn, x.clone(), W_enc.clone(), b_enc.clone(), W_dec.clone(), b_dec.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch("return a pair (x_hat, z): the reconstruction and the latents.")
    got_x_hat, got_z = got
    compare(got_z, z, what="your latents z", diagnoses={
        "did you forget the ReLU on the latents?": (x - b_dec) @ W_enc + b_enc,
        "subtract b_dec from x before encoding: z = ReLU((x - b_dec) W_enc + b_enc).": torch.relu(x @ W_enc + b_enc),
        "the encoder bias b_enc is missing.": torch.relu((x - b_dec) @ W_enc),
    })
    compare(got_x_hat, x_hat, what="your reconstruction x_hat", diagnoses={
        "add the decoder bias b_dec back after decoding.": z @ W_dec,
        "the ReLU belongs on the latents, not on the reconstruction.": torch.relu(z @ W_dec + b_dec),
    })


@register("sae_loss")
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
        "the penalty belongs on the latents z, not on the input x (ERRATA: ||x||_1 is a constant).":
            mse + lam * x.abs().sum(-1).mean(),
        "weight each latent by the norm of its decoder row, ||W_dec[i]||.": mse + lam * z.sum(-1).mean(),
        "sum the squared error over coordinates (then average over the batch), not a plain mean.":
            (x - x_hat).pow(2).mean() + lam * (z * norms).sum(-1).mean(),
        "use the norms of the decoder rows (dim=1), not of its columns.":
            mse + lam * (z * W_dec.norm(dim=0).sum() / W_dec.shape[0]).sum(-1).mean(),
    })


@register("mmcs")
def check_mmcs(fn):
    """``fn(learned (n_learned, d), true (n_true, d)) -> scalar``: mean over true directions of the
    best cosine similarity with a learned direction."""
    g = _gen(3)
    true = torch.randn(5, 4, generator=g)
    learned = torch.cat([3.0 * true[:3] + 0.2 * torch.randn(3, 4, generator=g), torch.randn(4, 4, generator=g)])
    a = true / true.norm(dim=1, keepdim=True)
    b = learned / learned.norm(dim=1, keepdim=True)
    cos = a @ b.T  # (n_true, n_learned)
    expected = cos.amax(1).mean()
    got = call_student(fn, learned.clone(), true.clone())
    compare(got, expected, what="your MMCS", diagnoses={
        "take the max over learned directions for each TRUE feature (you averaged over learned ones).": cos.amax(0).mean(),
        "normalise the rows: MMCS uses cosine similarities, not dot products.": (true @ learned.T).amax(1).mean(),
        "the sign matters: a latent pointing the opposite way does not recover a feature (drop the abs).": cos.abs().amax(1).mean(),
    })


@register("resample_decoder_rows")
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
    })
