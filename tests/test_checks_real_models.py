import pytest
import torch

from superpos_lib.checks import check
from superpos_lib.real_models import record_output, top_activating
from tests.conftest import as_student


def test_reference_solutions_pass():
    assert check("record_output", as_student(record_output)).passed
    assert check("top_activating", as_student(top_activating)).passed


def _no_removal(model, module, inputs):
    saved = []
    module.register_forward_hook(lambda m, a, out: saved.append(out[0] if isinstance(out, tuple) else out))
    with torch.no_grad():
        model(**inputs)
    return saved[0]


def _no_finally(model, module, inputs):
    saved = []
    handle = module.register_forward_hook(lambda m, a, out: saved.append(out[0] if isinstance(out, tuple) else out))
    with torch.no_grad():
        model(**inputs)
    handle.remove()
    return saved[0]


def _keeps_tuple(model, module, inputs):
    saved = []
    handle = module.register_forward_hook(lambda m, a, out: saved.append(out))
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    return saved[0]


def _with_grad(model, module, inputs):
    saved = []
    handle = module.register_forward_hook(lambda m, a, out: saved.append(out[0] if isinstance(out, tuple) else out))
    try:
        model(**inputs)
    finally:
        handle.remove()
    return saved[0]


def _records_input(model, module, inputs):
    return inputs["input_ids"]


@pytest.mark.parametrize("answer, message", [
    (_no_removal, "handle.remove()"),
    (_no_finally, "try: ... finally"),
    (_keeps_tuple, "keep its first element"),
    (_with_grad, "torch.no_grad()"),
    (_records_input, "the model's input"),
    (lambda model, module, inputs: None, "returned None"),
])
def test_record_output_diagnoses(answer, message):
    result = check("record_output", answer)
    assert not result.passed and message in result.message, result.message


@pytest.mark.parametrize("answer, message", [
    (lambda acts, k: acts.topk(k, dim=0), "It looks transposed"),
    (lambda acts, k: tuple(t.T for t in acts.topk(k, dim=0, largest=False)), "k smallest"),
    (lambda acts, k: (acts.topk(k, dim=0).values.T.flip(-1), acts.topk(k, dim=0).indices.T.flip(-1)), "wrong order"),
    (lambda acts, k: (lambda i: (acts.gather(0, i).T, i.T))(acts.abs().topk(k, dim=0).indices), "|activation|"),
    (lambda acts, k: acts.topk(k, dim=0).values.T, "return a pair"),
    (lambda acts, k: (acts.topk(k, dim=0).values.T, torch.arange(k).expand(acts.shape[1], k)), "sorted copy"),
    (lambda acts, k: (acts.topk(k, dim=0).values.T, acts.topk(k, dim=0).indices.T.double()), "integer tensor"),
])
def test_top_activating_diagnoses(answer, message):
    result = check("top_activating", answer)
    assert not result.passed and message in result.message, result.message


# ---------------------------------------------------------------- chapter 8 checkers

from superpos_lib.checks import real_models as crm


def _loss_no_shift(logits, ids, mask):
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), reduction="none")
    return (ce * mask.reshape(-1)).sum() / mask.sum()


def _loss_with_padding(logits, ids, mask):
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def _loss_per_text(logits, ids, mask):
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    ok = (mask[:, 1:] * mask[:, :-1]).bool()
    return torch.stack([ce[i][ok[i]].mean() for i in range(len(ce))]).mean()


@pytest.mark.parametrize("wrong, phrase", [
    (_loss_no_shift, "token t + 1"),
    (_loss_with_padding, "padding"),
    (_loss_per_text, "every predicted token should weigh"),
])
def test_next_token_loss_diagnoses(wrong, phrase):
    result = check("next_token_loss", wrong)
    assert not result.passed and phrase in result.message


def test_new_references_pass():
    for name, fn in [("next_token_loss", crm.next_token_loss_reference), ("splice_hook", crm.splice_hook_reference),
                     ("logit_effects", crm.logit_effects_reference), ("random_control", crm.random_control_reference)]:
        assert check(name, lambda *a, fn=fn: fn(*a)).passed, name


def _hook_no_return(replace, keep_first=True):
    def hook(module, args, output):
        replace(output[0] if isinstance(output, tuple) else output)
    return hook


def _hook_everywhere(replace, keep_first=True):
    def hook(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        return (replace(h), *output[1:]) if isinstance(output, tuple) else replace(h)
    return hook


def _hook_drops_tuple(replace, keep_first=True):
    def hook(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        new = torch.cat([h[:, :1], replace(h)[:, 1:]], 1) if keep_first else replace(h)
        return new
    return hook


@pytest.mark.parametrize("wrong, phrase", [
    (_hook_no_return, "returning the new output"),
    (_hook_everywhere, "first token too"),
])
def test_splice_hook_diagnoses(wrong, phrase):
    result = check("splice_hook", wrong)
    assert not result.passed and phrase in result.message


def test_splice_hook_that_drops_the_tuple_fails():
    assert not check("splice_hook", _hook_drops_tuple).passed


@pytest.mark.parametrize("wrong, phrase", [
    (lambda d, W, g, k: ((W @ d).topk(k).indices, (-(W @ d)).topk(k).indices), "gain"),
    (lambda d, W, g, k: ((W @ (d * g)).topk(k).values, (-(W @ (d * g))).topk(k).indices), "values"),
    (lambda d, W, g, k: ((W @ (d * g)).topk(k).indices, (-(W @ (d * g))).topk(k).indices.flip(0)), "wrong order"),
])
def test_logit_effects_diagnoses(wrong, phrase):
    result = check("logit_effects", wrong)
    assert not result.passed and phrase in result.message


@pytest.mark.parametrize("wrong, phrase", [
    (lambda d, g: (lambda r: r / r.norm())(torch.randn(d.shape, generator=g)), "norm 1"),
    (lambda d, g: d * 1.0, "along the original"),
    (lambda d, g: (lambda r: r / r.norm() * d.norm())(torch.randn(d.shape)), "seeded the same way"),
    (lambda d, g: (lambda r: r / r.norm() * d.norm())(torch.rand(d.shape, generator=g)), "common part"),
])
def test_random_control_diagnoses(wrong, phrase):
    result = check("random_control", wrong)
    assert not result.passed and phrase in result.message, result.message
