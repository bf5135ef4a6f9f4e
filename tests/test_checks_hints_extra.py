"""Hints that checkers raise directly (not through compare's diagnoses, which test_checks_mistakes.py
enumerates): each is reachable, fed the mistake it names."""

import torch

from superpos_lib.checks import check


def test_next_token_loss_asks_for_one_number():
    def per_token(logits, input_ids, attention_mask):
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                 input_ids[:, 1:].reshape(-1), reduction="none")

    result = check("next_token_loss", per_token)
    assert not result.passed and "return one number" in result.message


def test_top_activating_keeps_the_unit_axis_for_one_unit():
    def squeezed(acts, k):
        values, indices = acts.topk(k, dim=0)
        return values.T.squeeze(0), indices.T.squeeze(0)

    result = check("top_activating", squeezed)
    assert not result.passed and "with one unit and k = n_tokens" in result.message


def test_random_control_asks_for_a_tensor():
    def as_list(direction, generator):
        r = torch.randn(direction.shape, generator=generator, dtype=direction.dtype)
        return (r / r.norm() * direction.norm()).tolist()

    result = check("random_control", as_list)
    assert not result.passed and "as a tensor" in result.message


def test_sparse_features_reports_nan():
    def with_nan(batch_size, n_instances, n_features, feature_probability, generator):
        x = torch.rand(batch_size, n_instances, n_features, generator=generator)
        x = x * (torch.rand(batch_size, n_instances, n_features, generator=generator) < feature_probability)
        x[0, 0, 0] = float("nan")
        return x

    result = check("sparse_features", with_nan)
    assert not result.passed and "NaN" in result.message
