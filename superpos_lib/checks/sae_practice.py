"""Checkers for chapter 6b (sparse autoencoders in practice): the AuxK loss, and the chapter's answer
exercises (matched latents of a 4x dictionary; absorption by dictionary size; the amortisation gap)."""

import torch

from ._answers import register_answer
from ._core import Mismatch, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def auxk_loss_reference(pre, dead, W_dec, e, k_aux):
    """Gao et al.'s normalised AuxK error for one SAE: ``pre (batch, m)`` pre-activations, ``dead (m,)`` bool,
    ``W_dec (m, d)``, residual ``e = x - x_hat (batch, d)``. The ``k_aux`` largest pre-activations among the dead
    latents of each sample, through a ReLU, decode (no bias) to ``e_hat``; returns
    ``mean_b ||e_hat_b - e_b||^2 / mean_b ||e_b - mean_b(e)||^2`` (a 0-d tensor)."""
    masked = pre.masked_fill(~dead, float("-inf"))
    values, indices = masked.topk(k_aux, dim=-1)
    z_aux = torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))
    e_hat = z_aux @ W_dec
    return (e_hat - e).pow(2).sum(-1).mean() / (e - e.mean(0)).pow(2).sum(-1).mean()


def _auxk_case():
    g = torch.Generator().manual_seed(8)
    batch, m, d = 8, 10, 5
    pre = torch.randn(batch, m, generator=g)
    dead = torch.zeros(m, dtype=torch.bool)
    dead[[1, 4, 6, 9]] = True  # four dead latents, k_aux = 3 of them per sample
    pre[:, 0] = 3.0  # a live latent with the largest pre-activation everywhere
    pre[2, dead] = torch.tensor([-0.5, -1.0, 0.7, -0.2])  # only one dead latent positive in row 2
    W_dec = torch.randn(m, d, generator=g)
    e = torch.randn(batch, d, generator=g) + torch.tensor([1.0, -0.5, 0.3, 0.0, 0.8])  # a residual with a mean
    return pre, dead, W_dec, e, 3


def _aux(pre, dead, W_dec, e, k, *, only_dead=True, relu=True, denominator="centred"):
    masked = pre.masked_fill(~dead, float("-inf")) if only_dead else pre
    values, indices = masked.topk(k, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, indices, torch.relu(values) if relu else values)
    err = (z @ W_dec - e).pow(2).sum(-1).mean()
    if denominator == "none":
        return err
    if denominator == "uncentred":
        return err / e.pow(2).sum(-1).mean()
    if denominator == "global mean":
        return err / (e - e.mean()).pow(2).sum(-1).mean()
    if denominator == "unbiased":
        return err / e.var(0).sum()
    return err / (e - e.mean(0)).pow(2).sum(-1).mean()


@register("auxk_loss", reference=auxk_loss_reference)
def check_auxk_loss(fn):
    """``fn(pre, dead, W_dec, e, k_aux)`` returns the normalised AuxK error (a 0-d tensor)."""
    pre, dead, W_dec, e, k = _auxk_case()
    expected = _aux(pre, dead, W_dec, e, k)
    got = call_student(fn, pre.clone(), dead.clone(), W_dec.clone(), e.clone(), k)
    if isinstance(got, (tuple, list)):
        raise Mismatch("return the loss alone, one number (a 0-d tensor).")
    compare(got, expected, what="your AuxK loss", diagnoses={
        "you took the top k_aux over all latents: AuxK uses only the dead ones (set the live latents' "
        "pre-activations to -inf before topk).": _aux(pre, dead, W_dec, e, k, only_dead=False),
        "the selected pre-activations go through a ReLU: a dead latent with a negative pre-activation "
        "contributes 0, not a negative amount.": _aux(pre, dead, W_dec, e, k, relu=False),
        "you returned the plain squared error: divide it by the residual's variance, "
        "mean_b ||e_b - mean(e)||^2, so that 1 means 'no better than predicting the mean residual'.":
            _aux(pre, dead, W_dec, e, k, denominator="none"),
        "centre the residual in the denominator: its variance is mean_b ||e_b - mean_b(e)||^2, not "
        "mean_b ||e_b||^2.": _aux(pre, dead, W_dec, e, k, denominator="uncentred"),
        "subtract the mean residual vector (the mean over the batch, one value per coordinate), not one "
        "number averaged over every entry.": _aux(pre, dead, W_dec, e, k, denominator="global mean"),
        "average the denominator over the batch (1/B), as the numerator is: var() divides by B - 1.":
            _aux(pre, dead, W_dec, e, k, denominator="unbiased"),
    })
    # fewer dead latents than k_aux, as late in training: the live ones must stay out (masked, not dropped)
    few = torch.zeros_like(dead)
    few[[4, 6]] = True
    expected = _aux(pre, few, W_dec, e, 3)
    try:
        got = call_student(fn, pre.clone(), few.clone(), W_dec.clone(), e.clone(), 3)
    except Mismatch as error:
        raise Mismatch(f"with only 2 dead latents and k_aux = 3 your function failed ({error}). Late in training "
                       "fewer latents than k_aux are dead: keep all m columns, set the live ones to -inf, and "
                       "topk then returns -inf for the missing ones (the ReLU makes them 0).") from None
    compare(got, expected, what="your AuxK loss with 2 dead latents and k_aux = 3")


register_answer(
    "matched_latents", tolerance=10,
    explanation="Recovery is 1.00, so each of the 128 true features has at least one latent at cosine >= 0.9, and "
                "a second latent on the same feature would waste the L0 budget: about one matched latent per "
                "feature, however many latents the dictionary has. The other live latents match nothing.")

register_answer(
    "least_absorption", choices=["16", "64", "128"],
    explanation="Read the 'absorbed' column: it is the share of child-active inputs where the parent's latent is "
                "silent while the child's fires. A dictionary with fewer latents than features has no room for a "
                "latent per child, so it cannot absorb.")

register_answer(
    "amortisation_gap", choices=["more", "about the same", "less"],
    explanation="OMP solves for the code of every sample on the SAE's own dictionary, while the encoder guesses "
                "it with one matrix product and a top-k, so at the same L0 the solver's codes explain more of the "
                "variance (lower FVU): that difference is the amortisation gap.")
