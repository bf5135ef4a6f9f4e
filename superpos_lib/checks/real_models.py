"""Checkers for chapters 7 and 8 (real models): the forward hooks, top-activating examples, the
next-token loss, CE loss recovered, a direction's logit effects and a fair control, and chapter 8's
frontier prediction. They use tiny pure-torch models or plain numbers, so they run without the
chapters' extra packages and in a fraction of a second."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._answers import register_answer
from ._core import Mismatch, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


class _TupleBlock(nn.Module):
    """Returns a tuple, as transformer layers in some ``transformers`` versions do."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return (torch.relu(self.linear(x)), x)


class _ToyModel(nn.Module):
    """``input_ids (batch, seq, 4)`` -> ``(batch, seq, 3)``; ``fail=True`` raises after ``block``."""

    def __init__(self):
        super().__init__()
        self.block = _TupleBlock()
        self.head = nn.Linear(4, 3)

    def forward(self, input_ids, scale=1.0, fail=False):
        h, _ = self.block(input_ids)
        if fail:
            raise RuntimeError("this forward pass fails on purpose")
        return self.head(h * scale)


def _toy():
    torch.manual_seed(0)
    model = _ToyModel()
    x = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1))
    return model, x


def _no_hooks_left(model: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 and len(m._forward_pre_hooks) == 0 for m in model.modules())


def record_output_reference(model, module, inputs):
    """Run ``model(**inputs)`` under ``torch.no_grad()`` and return what ``module`` output (the first
    element when it returns a tuple); the hook is removed even if the forward pass raises."""
    saved = []

    def hook(_module, _args, output):
        saved.append(output[0] if isinstance(output, tuple) else output)

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    return saved[0]


def top_activating_reference(acts, k):
    """``acts (n_tokens, n_units)`` -> ``(values, indices)``, each ``(n_units, k)``, largest first."""
    values, indices = acts.topk(k, dim=0)
    return values.T, indices.T


@register("record_output", reference=record_output_reference)
def check_record_output(fn):
    """``fn(model, module, inputs)`` runs ``model(**inputs)`` and returns what ``module`` output
    (the first element if it returns a tuple), removing its hook afterwards."""
    model, x = _toy()
    with torch.no_grad():
        h_block = torch.relu(model.block.linear(x))
        h_head = model.head(h_block * 2.0)

    got = call_student(fn, model, model.head, {"input_ids": x, "scale": 2.0})
    if isinstance(got, (tuple, list)):
        raise Mismatch("you returned a tuple or list: return the module's output tensor itself.")
    if got is None:
        raise Mismatch("your function returned None: return the tensor your hook saved.")
    compare(got, h_head, what="the output you recorded for model.head",
            diagnoses={"you returned the model's input, not the module's output.": x,
                       "you recorded the module's input; a forward hook's third argument, output, is what "
                       "the module returned.": h_block * 2.0})
    if not _no_hooks_left(model):
        raise Mismatch("a hook is still registered after your function returned: keep the handle that "
                       "register_forward_hook gives you and call handle.remove().")
    if isinstance(got, torch.Tensor) and got.requires_grad:
        raise Mismatch("the recorded tensor still tracks gradients: run the forward pass inside "
                       "`with torch.no_grad():` (we only read activations).")

    got = call_student(fn, model, model.block, {"input_ids": x})
    if isinstance(got, (tuple, list)):
        raise Mismatch("model.block returns a tuple (as some transformer layers do); keep its first "
                       "element, e.g. `output[0] if isinstance(output, tuple) else output`.")
    with torch.no_grad():
        model_output = model(x)
    compare(got, h_block, what="the output you recorded for a module that returns a tuple",
            diagnoses={"you kept the tuple's second element; the hidden state is the first.": x,
                       "you recorded the whole model's output: register the hook on `module` (the argument "
                       "you are given), not on `model`.": model_output})
    if not _no_hooks_left(model):
        raise Mismatch("a hook is still registered after your function returned: call handle.remove().")

    raised = False
    try:
        fn(model, model.block, {"input_ids": x, "fail": True})
    except Exception:
        raised = True
    if not _no_hooks_left(model):
        raise Mismatch("when the forward pass raises an error, your hook stays registered: remove it in a "
                       "`try: ... finally: handle.remove()` block.")
    if not raised:
        raise Mismatch("when the forward pass raises an error, your function must let it through (so the "
                       "caller sees it); yours returned as if nothing happened. Remove the hook in `finally:`, "
                       "without an `except` that swallows the error.")


def _reference_top(acts: torch.Tensor, k: int):
    values, indices = acts.topk(k, dim=0)
    return values.T, indices.T


@register("top_activating", reference=top_activating_reference)
def check_top_activating(fn):
    """``fn(acts, k)`` with ``acts (n_tokens, n_units)`` returns ``(values, indices)``, each
    ``(n_units, k)``, largest first."""
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(200, 7, generator=gen)
    k = 5
    values, indices = _reference_top(acts, k)
    got = call_student(fn, acts.clone(), k)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch("return a pair (values, indices), both of shape (n_units, k).")
    got_values, got_indices = got
    if (isinstance(got_values, torch.Tensor) and not got_values.is_floating_point()
            and isinstance(got_indices, torch.Tensor) and got_indices.is_floating_point()):
        raise Mismatch("you returned (indices, values); return them in the order (values, indices).")
    gv = torch.as_tensor(got_values) if not isinstance(got_values, torch.Tensor) else got_values
    if (gv.shape == values.shape and not torch.allclose(gv.double(), values.double())
            and torch.allclose(gv.double().sort(-1, descending=True).values, values.double())):
        raise Mismatch("your values are the right ones in the wrong order: sort them largest first "
                       "(topk sorts them unless sorted=False).")
    compare(got_values, values, what="values", diagnoses={
        "you took the k smallest activations; use the largest (largest=True, the default of topk).":
            acts.topk(k, dim=0, largest=False).values.T,
        "you ranked by |activation|; we want the largest (most positive) activations.":
            acts.gather(0, acts.abs().topk(k, dim=0).indices).T,
        "you took the top k over units for each token (dim=1); take it over tokens (dim=0) for each unit.":
            acts.topk(k, dim=1).values,
        "you skipped the largest activation: topk(k) already starts at the largest.":
            acts.topk(k + 1, dim=0).values[1:].T,
    })
    compare(got_indices, indices.to(torch.float64), what="indices", atol=0, rtol=0, diagnoses={
        "your indices are positions in a sorted copy; return the token positions (topk gives them).":
            torch.arange(k).expand(7, k).to(torch.float64),
    })
    if isinstance(got_indices, torch.Tensor) and got_indices.is_floating_point():
        raise Mismatch("indices should be an integer tensor (they index tokens).")
    got = call_student(fn, acts[:, :1].clone(), 200)
    if not isinstance(got, (tuple, list)) or len(got) != 2 or tuple(torch.as_tensor(got[1]).shape) != (1, 200):
        raise Mismatch("with one unit and k = n_tokens, indices should have shape (1, n_tokens).")


# ---------------------------------------------------------------- chapter 8: a causal language model

def next_token_loss_reference(logits, input_ids, attention_mask):
    """Mean next-token cross-entropy (nats): position ``t`` predicts token ``t + 1``; a prediction
    counts only where both tokens are real (``attention_mask`` 1). ``logits (batch, seq, vocab)``."""
    pred = logits[:, :-1]
    target = input_ids[:, 1:]
    ok = (attention_mask[:, 1:] * attention_mask[:, :-1]).bool()
    losses = torch.nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none")
    return (losses * ok.reshape(-1)).sum() / ok.sum()


def _lm_case():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 6, 11, generator=gen) * 2
    ids = torch.randint(0, 11, (3, 6), generator=gen)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    return logits, ids, mask


@register("next_token_loss", reference=next_token_loss_reference)
def check_next_token_loss(fn):
    """``fn(logits, input_ids, attention_mask)`` returns the mean next-token cross-entropy."""
    logits, ids, mask = _lm_case()
    expected = next_token_loss_reference(logits, ids, mask)
    ce = torch.nn.functional.cross_entropy
    flat = lambda lg, t: ce(lg.reshape(-1, lg.shape[-1]), t.reshape(-1), reduction="none").reshape(t.shape)
    no_shift = flat(logits, ids)
    shifted = flat(logits[:, :-1], ids[:, 1:])
    ok = (mask[:, 1:] * mask[:, :-1]).bool()
    per_text = torch.stack([shifted[i][ok[i]].mean() for i in range(3)]).mean()
    got = call_student(fn, logits.clone(), ids.clone(), mask.clone())
    if isinstance(got, torch.Tensor) and got.numel() != 1:
        raise Mismatch("return one number (a 0-d tensor or a float), the mean over all valid predictions.")
    compare(got, expected, what="the mean loss", diagnoses={
        "you compared each position's logits with the token at the same position: position t predicts "
        "token t + 1, so drop the last logits and the first token (logits[:, :-1] against input_ids[:, 1:]).":
            (no_shift * mask).sum() / mask.sum(),
        "you forgot the shift and the mask: position t predicts token t + 1, and padded tokens do not count.":
            no_shift.mean(),
        "your loss includes predictions of padding tokens: count a prediction only where both the token "
        "and the one it predicts have attention_mask 1.": shifted.mean(),
        "you averaged each text's loss and then averaged the texts: every predicted token should weigh "
        "the same (sum over all valid predictions, divide by their number).": per_text,
        "your loss is negative: cross-entropy is minus the log-probability of the right token.": -expected,
    })


def splice_hook_reference(replace, keep_first=True):
    """A forward hook that replaces a block's hidden state ``h (batch, seq, d)`` by ``replace(h)``,
    keeping position 0 as it was when ``keep_first``, and keeping any tuple structure of the output."""
    def hook(_module, _args, output):
        h = output[0] if isinstance(output, tuple) else output
        new = replace(h)
        if keep_first:
            new = torch.cat([h[:, :1], new[:, 1:]], dim=1)
        return (new, *output[1:]) if isinstance(output, tuple) else new
    return hook


class _PlainBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return torch.tanh(self.linear(x))


class _SpliceModel(nn.Module):
    def __init__(self, tuple_block: bool):
        super().__init__()
        self.block = _TupleBlock() if tuple_block else _PlainBlock()
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.block(x)
        if isinstance(self.block, _TupleBlock) and not isinstance(h, tuple):
            raise Mismatch("on a block that returns a tuple, your hook returned a bare tensor: the code after "
                           "the block unpacks a tuple, so return (new_hidden, *output[1:]).")
        h = h[0] if isinstance(h, tuple) else h
        return self.head(h)


@register("splice_hook", reference=splice_hook_reference)
def check_splice_hook(fn):
    """``fn(replace, keep_first)`` returns a forward hook that splices ``replace(h)`` into a block's output."""
    x = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(4))
    replace = lambda h: 0.5 * h + 1.0
    for tuple_block in (True, False):
        torch.manual_seed(0)
        model = _SpliceModel(tuple_block)
        with torch.no_grad():
            h = model.block(x)
            h = h[0] if isinstance(h, tuple) else h
            kept = torch.cat([h[:, :1], replace(h)[:, 1:]], dim=1)
            expected = model.head(kept)
            everywhere = model.head(replace(h))
            clean = model.head(h)
        for keep_first, want in ((True, expected), (False, everywhere)):
            hook = call_student(fn, replace, keep_first)
            if not callable(hook):
                raise Mismatch("return the hook function itself (a function of module, args, output).")
            handle = model.block.register_forward_hook(hook)
            try:
                with torch.no_grad():
                    got = call_student(model, x)
            finally:
                handle.remove()
            kind = "a block that returns a tuple" if tuple_block else "a block that returns a tensor"
            diagnoses = {"your hook did not change the model's output: a forward hook changes it only by "
                         "returning the new output (return it, with the same structure as `output`).": clean}
            if keep_first:  # each case names only the mistake that gives a different output from the right one
                diagnoses["you replaced the first token too: with keep_first=True position 0 (the attention "
                          "sink) must keep its original hidden state."] = everywhere
            else:
                diagnoses["you kept the first token even with keep_first=False."] = expected
            compare(got, want, what=f"the model's output with your hook on {kind} (keep_first={keep_first})",
                    diagnoses=diagnoses)


def logit_effects_reference(direction, W_U, gain, k):
    """Tokens a residual direction pushes up and down through the final norm's gain and the unembedding:
    ``effects = W_U @ (direction * gain)``; returns ``(top, bottom)`` token ids, each ``(k,)``, the
    largest effects first and the most negative first."""
    effects = W_U @ (direction * gain)
    return effects.topk(k).indices, (-effects).topk(k).indices


@register("logit_effects", reference=logit_effects_reference)
def check_logit_effects(fn):
    """``fn(direction, W_U, gain, k)`` with ``W_U (vocab, d)`` returns the ids of the ``k`` most boosted
    and the ``k`` most suppressed tokens."""
    gen = torch.Generator().manual_seed(5)
    d, vocab, k = 6, 40, 4
    direction = torch.randn(d, generator=gen)
    W_U = torch.randn(vocab, d, generator=gen)
    gain = torch.rand(d, generator=gen) * 3 + 0.1
    top, bottom = logit_effects_reference(direction, W_U, gain, k)
    got = call_student(fn, direction.clone(), W_U.clone(), gain.clone(), k)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch("return a pair (top, bottom) of token-id tensors, each of shape (k,).")
    no_gain = W_U @ direction
    effects = W_U @ (direction * gain)
    compare(torch.as_tensor(got[0]).to(torch.float64), top.to(torch.float64), what="the boosted tokens", atol=0,
            rtol=0, diagnoses={
                "you left out the final norm's gain: the unembedding reads the residual after RMSNorm, which "
                "multiplies each coordinate by its gain.": no_gain.topk(k).indices.to(torch.float64),
                "you returned the effects' values; return the token ids (the indices).":
                    effects.topk(k).values.to(torch.float64),
                "you ranked by |effect|: the boosted tokens are the most positive effects.":
                    effects.abs().topk(k).indices.to(torch.float64),
            })
    compare(torch.as_tensor(got[1]).to(torch.float64), bottom.to(torch.float64), what="the suppressed tokens",
            atol=0, rtol=0, diagnoses={
                "your suppressed tokens are the right ones in the wrong order: the most negative effect first.":
                    bottom.flip(0).to(torch.float64),
                "you left out the final norm's gain.": (-no_gain).topk(k).indices.to(torch.float64),
                "you took the smallest |effect|; the suppressed tokens have the most negative effects.":
                    (-effects.abs()).topk(k).indices.to(torch.float64),
            })


def ce_loss_recovered_reference(clean, spliced, ablated):
    """CE loss recovered, ``(ablated - spliced) / (ablated - clean)``, from three losses (numbers or 0-d
    tensors): 1 when splicing costs nothing, 0 when it is as bad as the ablation."""
    return (ablated - spliced) / (ablated - clean)


# (clean, spliced, ablated): an ordinary splice, a near-perfect one, one worse than the ablation (negative)
# and one better than the clean model (above 1), so clipping or dropping the sign is caught
_CE_CASES = [(4.6, 5.0, 10.2), (3.0, 3.02, 16.0), (4.0, 9.0, 8.0), (2.5, 2.4, 6.5)]


@register("ce_loss_recovered", reference=ce_loss_recovered_reference)
def check_ce_loss_recovered(fn):
    """``fn(clean, spliced, ablated)`` returns ``(ablated - spliced) / (ablated - clean)`` as a number."""
    for clean, spliced, ablated in _CE_CASES:
        expected = (ablated - spliced) / (ablated - clean)
        got = call_student(fn, clean, spliced, ablated)
        if isinstance(got, (str, bytes, bool)):
            raise Mismatch(f"return a number (a float or a 0-d tensor), not a {type(got).__name__}: the chapter "
                           "computes with it.")
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise Mismatch(f"return one number (a float or a 0-d tensor), got a {type(got).__name__}.") from None
        if math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        wrong = [
            ("that is the fraction of the loss lost, (spliced - clean) / (ablated - clean), which is 1 minus the "
             "fraction recovered.", (spliced - clean) / (ablated - clean)),
            ("the denominator is the whole gap the ablation opens, ablated - clean, not ablated alone.",
             (ablated - spliced) / ablated),
            ("you inverted the ratio: the numerator is what the splice recovers, ablated - spliced, the denominator "
             "the gap ablated - clean.", (ablated - clean) / (ablated - spliced) if ablated != spliced else math.inf),
            ("that is a ratio of losses; CE loss recovered compares the splice's loss with the two baselines, "
             "(ablated - spliced) / (ablated - clean).", clean / spliced),
            ("that is a ratio of losses; CE loss recovered compares the splice's loss with the two baselines, "
             "(ablated - spliced) / (ablated - clean).", spliced / clean),
            ("return a fraction, not a percentage.", 100 * expected),
            ("you clipped the result to [0, 1]. Keep it unclipped: below 0 says the splice is worse than the "
             "ablation, above 1 that it beats the clean model, and both are worth seeing.", min(max(expected, 0.0), 1.0)),
            ("you took an absolute value: a splice worse than the ablation recovers a negative fraction.",
             abs(expected)),
            ("your sign is flipped: the numerator is ablated - spliced (positive when the splice beats the "
             "ablation).", -expected),
        ]
        for message, value_wrong in wrong:
            if math.isclose(value, value_wrong, rel_tol=1e-6, abs_tol=1e-9):
                raise Mismatch(message)
        raise Mismatch(f"with clean {clean}, spliced {spliced} and ablated {ablated} you returned {value:.4g}, "
                       f"expected {expected:.4g}.")


def random_control_reference(direction, generator):
    """A random direction with the same norm as ``direction (d,)``: a Gaussian vector (uniform on the
    sphere once normalised) scaled to ``||direction||``, drawn from ``generator``."""
    r = torch.randn(direction.shape, generator=generator, dtype=direction.dtype)
    return r / r.norm() * direction.norm()


@register("random_control", reference=random_control_reference)
def check_random_control(fn):
    """``fn(direction, generator)`` returns a random direction of the same norm, drawn from ``generator``."""
    direction = torch.randn(64, generator=torch.Generator().manual_seed(6)) * 3.0
    got = call_student(fn, direction.clone(), torch.Generator().manual_seed(7))
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"return the random direction as a tensor, got {type(got).__name__}.")
    if got.shape != direction.shape:
        raise Mismatch(f"return a vector of the same shape as direction, {tuple(direction.shape)}; got {tuple(got.shape)}.")
    if not torch.isfinite(got).all():
        raise Mismatch("your direction has NaN or infinite entries.")
    if abs(float(got.norm()) - 1.0) < 1e-4 and abs(float(direction.norm()) - 1.0) > 1e-2:
        raise Mismatch("your direction has norm 1: a fair control has the same norm as the direction it "
                       "replaces (scale it by direction.norm()).")
    if abs(float(got.norm()) - float(direction.norm())) > 1e-4 * float(direction.norm()):
        raise Mismatch(f"your direction has norm {float(got.norm()):.3f}, the original {float(direction.norm()):.3f}: "
                       "normalise the random vector, then scale it to the original's norm.")
    cos = float(got.double() @ direction.double() / (got.double().norm() * direction.double().norm()))
    if abs(cos) > 0.9:
        raise Mismatch("your direction points (almost) along the original: draw a new random vector, "
                       "do not rescale or perturb the original.")
    again = torch.as_tensor(call_student(fn, direction.clone(), torch.Generator().manual_seed(7)))
    if again.shape != got.shape or not torch.allclose(again.double(), got.double()):
        raise Mismatch("two calls with generators seeded the same way gave different directions: draw the "
                       "random numbers from the generator you are given (torch.randn(..., generator=generator)).")
    other = torch.as_tensor(call_student(fn, direction.clone(), torch.Generator().manual_seed(8)))
    if other.shape == got.shape and torch.allclose(other.double(), got.double()):
        raise Mismatch("generators with different seeds gave the same direction: the result must be random.")
    # isotropy: over many draws, the mean direction is near zero and no coordinate is favoured
    draws = torch.stack([torch.as_tensor(call_student(fn, direction.clone(), torch.Generator().manual_seed(100 + i)))
                         .double() for i in range(300)])
    unit = draws / draws.norm(dim=1, keepdim=True)
    if unit.mean(0).norm() > 0.25:
        raise Mismatch("your random directions share a common part (their average is far from zero): draw "
                       "each coordinate from a zero-mean Gaussian (torch.randn), not e.g. torch.rand, which is positive.")


# ---------------------------------------------------------------- predict

register_answer(
    "relu_frontier", choices=["more", "about the same", "less"],
    explanation="The L1 penalty charges every active latent for its size, so a ReLU SAE buys sparsity by shrinking "
                "the latents that fire as well as by firing fewer: its reconstructions are too small and partly "
                "wrong, and the model downstream notices. TopK chooses which latents fire and leaves their sizes "
                "alone, so at the same L0 it recovers more of the loss.")
