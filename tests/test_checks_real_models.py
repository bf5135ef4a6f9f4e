import pytest
import torch

from superpos_lib.checks import check
from superpos_lib.real_models import record_output, top_activating


def test_reference_solutions_pass():
    assert check("record_output", record_output).passed
    assert check("top_activating", top_activating).passed


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
