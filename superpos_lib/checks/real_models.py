"""Checkers for chapter 7 (superposition in a real transformer): the forward hook and the
top-activating-examples function. They use tiny pure-torch models, so they run without the
chapter's extra packages and in a fraction of a second."""

from __future__ import annotations

import torch
from torch import nn

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
