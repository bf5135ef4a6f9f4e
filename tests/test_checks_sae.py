import torch

from superpos_lib.checks import check
from tests.conftest import as_student


def _ok(name, fn):
    result = check(name, fn)
    assert result.passed, result.message


def _wrong(name, fn, words):
    result = check(name, fn)
    assert not result.passed and words in result.message, result.message


def test_sae_forward_checker():
    def ref(x, W_enc, b_enc, W_dec, b_dec):
        z = torch.relu((x - b_dec) @ W_enc + b_enc)
        return z @ W_dec + b_dec, z

    _ok("sae_forward", ref)
    _wrong("sae_forward", lambda x, We, be, Wd, bd: (((x - bd) @ We + be) @ Wd + bd, (x - bd) @ We + be), "ReLU")
    _wrong("sae_forward", lambda x, We, be, Wd, bd: (torch.relu(x @ We + be) @ Wd + bd, torch.relu(x @ We + be)), "b_dec")
    _wrong("sae_forward", lambda *a: ref(*a)[0], "pair")


def test_sae_loss_checker():
    def ref(x, x_hat, z, W_dec, l1):
        return (x - x_hat).pow(2).sum(-1).mean() + l1 * (z * W_dec.norm(dim=1)).sum(-1).mean()

    _ok("sae_loss", ref)
    _wrong("sae_loss", lambda x, xh, z, W, l1: (x - xh).pow(2).sum(-1).mean() + l1 * x.abs().sum(-1).mean(), "latents")
    _wrong("sae_loss", lambda x, xh, z, W, l1: (x - xh).pow(2).sum(-1).mean() + l1 * z.sum(-1).mean(), "norm")
    _wrong("sae_loss", lambda x, xh, z, W, l1: (x - xh).pow(2).mean() + l1 * (z * W.norm(dim=1)).sum(-1).mean(), "sum the squared")


def test_mmcs_checker():
    from superpos_lib.metrics import mmcs

    _ok("mmcs", as_student(mmcs))
    _wrong("mmcs", lambda l, t: (t @ l.T).amax(1).mean(), "normalise")
    _wrong("mmcs", lambda l, t: mmcs(t, l), "TRUE")


def test_resample_checker():
    def ref(W_dec, dead, x_chosen, b_dec):
        new = torch.nn.functional.normalize(x_chosen - b_dec, dim=1)
        return torch.where(dead[:, None], new, W_dec)

    _ok("resample_decoder_rows", ref)
    _wrong("resample_decoder_rows", lambda W, d, xc, b: torch.where(d[:, None], xc - b, W), "unit length")
    _wrong("resample_decoder_rows", lambda W, d, xc, b: torch.nn.functional.normalize(xc - b, dim=1), "live")

    def stub(*a):
        raise NotImplementedError

    _wrong("resample_decoder_rows", stub, "not implemented")
