"""Checkers for the Polysemanticity chapter: the ReLU-hidden toy model's forward pass, the neuron
polysemanticity count, a prediction about the rotation test and the naming of a neuron regime."""

import torch

from ..metrics.neurons import NEURON_REGIMES, neuron_polysemanticity
from ._answers import register_answer
from ._core import Mismatch, _as_tensor, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def _relu_hidden_reference(W, b, x):
    h = torch.relu(torch.einsum("kdn,bkn->bkd", W, x))
    return torch.relu(torch.einsum("kdn,bkd->bkn", W, h) + b)


def relu_hidden_forward_reference(W, b, x):
    """``ReLU(W^T ReLU(W x) + b)``: ``W (n_instances, d, n)``, ``b (n_instances, n)``, ``x (batch, n_instances, n)``."""
    return _relu_hidden_reference(W, b, x)


def neuron_polysemanticity_reference(W, features, threshold):
    """Mean over the batch of ``|{j : W_ij f_j > threshold}|``: ``W (d, n)``, ``features (batch, n)`` -> ``(d,)``."""
    contribution = W.unsqueeze(0) * features.unsqueeze(1)  # (batch, d, n)
    return (contribution > threshold).float().sum(-1).mean(0)


@register("relu_hidden_forward", reference=relu_hidden_forward_reference)
def check_relu_hidden_forward(fn):
    """``fn(W, b, x)`` with ``W (n_instances, d, n)``, ``b (n_instances, n)``, ``x (batch,
    n_instances, n)`` returns ``ReLU(W^T ReLU(W x) + b)``, shape ``(batch, n_instances, n)``."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 4, 6, generator=g)
    b = torch.randn(3, 6, generator=g) * 0.5
    x = torch.rand(8, 3, 6, generator=g)
    expected = _relu_hidden_reference(W, b, x)
    h_linear = torch.einsum("kdn,bkn->bkd", W, x)
    got = call_student(fn, W.clone(), b.clone(), x.clone())
    compare(
        got,
        expected,
        what="your reconstruction f'",
        diagnoses={
            "you left out the hidden ReLU: h = ReLU(W x) is what makes the neuron basis privileged.":
                torch.relu(torch.einsum("kdn,bkd->bkn", W, h_linear) + b),
            "you left out the output ReLU: f' = ReLU(W^T h + b).":
                torch.einsum("kdn,bkd->bkn", W, torch.relu(h_linear)) + b,
            "you left out the bias b.": torch.relu(torch.einsum("kdn,bkd->bkn", W, torch.relu(h_linear))),
            "you returned the hidden activations h; return the reconstruction f' = ReLU(W^T h + b).": torch.relu(h_linear),
            "you left out both ReLUs: f' = ReLU(W^T ReLU(W x) + b).": torch.einsum("kdn,bkd->bkn", W, h_linear) + b,
            "you added the bias b to the input x; it is added after W^T h, before the output ReLU.":
                torch.relu(torch.einsum("kdn,bkd->bkn", W, torch.relu(torch.einsum("kdn,bkn->bkd", W, x + b)))),
        },
    )


@register("neuron_polysemanticity", reference=neuron_polysemanticity_reference)
def check_neuron_polysemanticity(fn):
    """``fn(W, features, threshold)`` with ``W (d, n)``, ``features (batch, n)`` returns, for each
    neuron, the mean over the batch of the number of features ``j`` with ``W_ij f_j > threshold``:
    shape ``(d,)``."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 7, generator=g)
    features = torch.rand(64, 7, generator=g) * (torch.rand(64, 7, generator=g) < 0.4)
    threshold = 0.3
    expected = neuron_polysemanticity(W, features, threshold)
    contribution = W.unsqueeze(0) * features.unsqueeze(1)  # (batch, d, n)
    got = _as_tensor(call_student(fn, W.clone(), features.clone(), threshold), "your polysemanticity")
    if got.shape == expected.shape and not torch.is_floating_point(got):
        raise Mismatch("return floating-point numbers (a mean over the batch is fractional), "
                       "e.g. counts.float().mean(0).")
    compare(
        got,
        expected,
        what="your polysemanticity",
        diagnoses={
            "you summed over the batch; the expectation is a mean over the batch.":
                (contribution > threshold).float().sum(dim=(0, 2)),
            "you compared |W_ij f_j| with the threshold; a negative contribution cannot push the neuron up.":
                (contribution.abs() > threshold).float().sum(-1).mean(0),
            "you compared W_ij with the threshold without multiplying by the feature value f_j.":
                (W > threshold).float().sum(-1),
            "you counted over neurons instead of features: each neuron's count runs over j (the columns of W).":
                (contribution > threshold).float().sum(1).mean(0),
            "you averaged over the features; count them (sum over j), then average over the batch.":
                (contribution > threshold).float().mean(-1).mean(0),
        },
    )
    zero = call_student(fn, W.clone(), torch.zeros(4, 7), 0.0)
    compare(zero, torch.zeros(5), what="your polysemanticity on all-zero features with threshold 0",
            diagnoses={"with threshold 0 you counted features that are absent (W_ij * 0 = 0): the condition is "
                       "strict, W_ij f_j > threshold, not >=.": (W > -1e30).float().sum(-1)})


register_answer("rotation_loss_ratio", tolerance=0.01,
                explanation="Rotating the hidden layer turns W^T W into (R W)^T (R W) = W^T R^T R W = W^T W, since "
                            "R^T R = I: the rotated model computes the same outputs, so the loss does not change "
                            "(ratio 1).")
register_answer("neuron_regime", choices=NEURON_REGIMES,
                explanation="Count, for each bar of that panel, the blocks above theta = 0.3: a neuron with one such "
                            "block reads one feature (monosemantic), with two or more it is polysemantic; 'mixed' "
                            "means some neurons of each kind.")
