"""The chapter-1 checkers accept the reference and explain typical wrong answers."""

import torch

from superpos_lib.checks import check
from superpos_lib.data import sparse_features
from superpos_lib.metrics import feature_dimensionality
from tests.conftest import as_student


def message(result):
    return repr(result)


# --- sparse_features -------------------------------------------------------------------------

def good_features(batch_size, n_instances, n_features, feature_probability, generator):
    mag = torch.rand(batch_size, n_instances, n_features, generator=generator)
    mask = torch.rand(batch_size, n_instances, n_features, generator=generator) < feature_probability
    return mag * mask


def test_sparse_features_accepts_reference_and_library():
    assert check("sparse_features", good_features)
    assert check("sparse_features", lambda b, i, n, p, g: sparse_features(b, i, n, p, generator=g))


def test_sparse_features_diagnoses():
    def unmasked(b, i, n, p, g):
        return torch.rand(b, i, n, generator=g)

    def inverted(b, i, n, p, g):
        return torch.rand(b, i, n, generator=g) * (torch.rand(b, i, n, generator=g) > p)

    def mask_only(b, i, n, p, g):
        return (torch.rand(b, i, n, generator=g) < p).float()

    def one_mask_per_sample(b, i, n, p, g):
        return torch.rand(b, i, n, generator=g) * (torch.rand(b, i, 1, generator=g) < p)

    def no_generator(b, i, n, p, g):
        return torch.rand(b, i, n) * (torch.rand(b, i, n) < p)

    def scalar_probability(b, i, n, p, g):
        return torch.rand(b, i, n, generator=g) * (torch.rand(b, i, n, generator=g) < 0.3)

    cases = {unmasked: "not masked", inverted: "inverted", mask_only: "mask only",
             one_mask_per_sample: "independently", no_generator: "generator", scalar_probability: "feature 0 of instance 0"}
    for fn, expected in cases.items():
        result = check("sparse_features", fn)
        assert not result, fn.__name__
        assert expected in message(result), (fn.__name__, message(result))
    assert "shape" in message(check("sparse_features", lambda b, i, n, p, g: torch.zeros(b, n)))
    assert "not implemented" in message(check("sparse_features", lambda *a: (_ for _ in ()).throw(NotImplementedError())))


# --- toy_forward -------------------------------------------------------------------------------

def good_forward(W, b, features):
    h = torch.einsum("idn,bin->bid", W, features)
    return torch.relu(torch.einsum("idn,bid->bin", W, h) + b)


def test_toy_forward():
    assert check("toy_forward", good_forward)
    cases = {
        "forgot the ReLU": lambda W, b, f: torch.einsum("idn,bid->bin", W, torch.einsum("idn,bin->bid", W, f)) + b,
        "bias is unused": lambda W, b, f: torch.relu(torch.einsum("idn,bid->bin", W, torch.einsum("idn,bin->bid", W, f))),
        "after the ReLU": lambda W, b, f: torch.relu(torch.einsum("idn,bid->bin", W, torch.einsum("idn,bin->bid", W, f))) + b,
        "hidden layer": lambda W, b, f: torch.relu(torch.einsum("idn,bid->bin", W, torch.relu(torch.einsum("idn,bin->bid", W, f))) + b),
        "hidden activations": lambda W, b, f: torch.einsum("idn,bin->bid", W, f),
    }
    for expected, fn in cases.items():
        result = check("toy_forward", fn)
        assert not result and expected in message(result), (expected, message(result))


# --- toy_loss ----------------------------------------------------------------------------------

def good_loss(features, reconstruction, importance):
    return (importance * (features - reconstruction) ** 2).mean(dim=(0, 2))


def test_toy_loss():
    assert check("toy_loss", good_loss)
    cases = {
        "importance is missing": lambda f, r, i: ((f - r) ** 2).mean(dim=(0, 2)),
        "take the mean": lambda f, r, i: (i * (f - r) ** 2).sum(dim=(0, 2)),
        "one loss per instance": lambda f, r, i: (i * (f - r) ** 2).mean(),
        "wrong axes": lambda f, r, i: (i * (f - r) ** 2).mean(dim=(0, 1)),
        "kept the batch axis": lambda f, r, i: (i * (f - r) ** 2).mean(dim=2),
        "not squared": lambda f, r, i: (i * (f - r).abs()).mean(dim=(0, 2)),
        "before squaring": lambda f, r, i: ((i * (f - r)) ** 2).mean(dim=(0, 2)),
    }
    for expected, fn in cases.items():
        result = check("toy_loss", fn)
        assert not result and expected in message(result), (expected, message(result))


# --- feature_dimensionality --------------------------------------------------------------------

def good_dimensionality(W):
    norms = W.norm(dim=1)  # (I, n)
    unit = W / norms.clamp_min(1e-12).unsqueeze(1)
    overlaps = unit.transpose(1, 2) @ W  # (I, n, n)
    D = norms ** 2 / overlaps.pow(2).sum(-1)
    return torch.where(norms > 0, D, torch.zeros_like(D))


def test_feature_dimensionality():
    assert check("feature_dimensionality", good_dimensionality)
    assert check("feature_dimensionality", as_student(feature_dimensionality))

    def nan_for_dead(W):
        unit = W / W.norm(dim=1, keepdim=True)
        return W.norm(dim=1) ** 2 / (unit.transpose(1, 2) @ W).pow(2).sum(-1)

    def unnormalised(W):
        D = W.pow(2).sum(1) / (W.transpose(1, 2) @ W).pow(2).sum(-1)
        return torch.nan_to_num(D, nan=0.0)

    def rows(W):
        return feature_dimensionality(W.transpose(1, 2))

    def unsquared(W):
        unit = W / W.norm(dim=1, keepdim=True)
        return torch.nan_to_num(W.pow(2).sum(1) / (unit.transpose(1, 2) @ W).sum(-1), nan=0.0)

    cases = {nan_for_dead: "NaN", unnormalised: "normalise", rows: "rows of W", unsquared: "not squared"}
    for fn, expected in cases.items():
        result = check("feature_dimensionality", fn)
        assert not result and expected in message(result), (fn.__name__, message(result))
