"""Neuron-level measures: how many features does each hidden unit respond to?

These only mean something where the hidden basis is *privileged*: when an elementwise
nonlinearity (a ReLU on the hidden layer) makes each coordinate a unit of its own. In a model whose
hidden layer is linear, any rotation of ``W`` gives the same loss, so "neuron i" is an arbitrary
direction and counting its features says nothing about the model.

Shapes follow the toy models: ``W`` is ``(..., d_hidden, n_features)`` (row ``i`` holds what
neuron ``i`` reads from each feature) and a batch of features is ``(batch, ..., n_features)``.
"""

from __future__ import annotations

import torch

from .. import _validate as v

__all__ = ["neuron_polysemanticity", "neuron_polysemanticity_from_weights", "neuron_feature_groups", "neuron_regime",
           "NEURON_REGIMES"]

NEURON_REGIMES = ("monosemantic", "mixed", "polysemantic")

_CHUNK_ENTRIES = 2**24  # entries of the (chunk, ..., d, n) comparison held in memory at once


def _weights(W) -> torch.Tensor:
    W = v.tensor("W", W)
    if W.ndim < 2:
        raise ValueError(f"W must have shape (..., d_hidden, n_features) with at least 2 dimensions, "
                         f"got shape {tuple(W.shape)}")
    return v.non_empty("W", W, (-2, -1))


def neuron_polysemanticity(W: torch.Tensor, features: torch.Tensor, threshold: float = 0.0,
                           *, given_active: bool = False) -> torch.Tensor:
    """Expected number of features that push each neuron above ``threshold``.

    For neuron ``i``: ``E_f[ |{j : W_ij f_j > threshold}| ]``, the expectation estimated as the
    mean over the sampled ``features``.

    This raw expectation counts features *active on the same input*, so it shrinks as features get
    sparser even if every neuron reads many features. ``given_active=True`` instead returns
    ``sum_j P(W_ij f_j > threshold | f_j != 0)``: how many features, each on its own when present,
    drive the neuron above the threshold. That is the number to compare across feature
    probabilities (a monosemantic neuron scores at most 1).

    Args:
        W: ``(..., d_hidden, n_features)`` encoder weights (row ``i`` is neuron ``i``).
        features: ``(batch, ..., n_features)``, the leading ``...`` broadcastable with ``W``'s.
        threshold: ``theta >= 0``; a contribution ``W_ij f_j`` counts when it exceeds it.
        given_active: see above. Features that are never active in the sample contribute 0.

    Returns:
        ``(..., d_hidden)``.
    """
    W = _weights(W)
    features = v.tensor("features", features)
    threshold = v.non_negative_float("threshold", threshold)
    if features.ndim < 2:
        raise ValueError(f"features must have shape (batch, ..., n_features), got shape {tuple(features.shape)}")
    if features.shape[-1] != W.shape[-1]:
        raise ValueError(f"features must have n_features={W.shape[-1]} entries on its last axis (as W), "
                         f"got shape {tuple(features.shape)}")
    v.non_empty("features", features, 0, "sample (the expectation over no samples is undefined)")
    try:
        lead = torch.broadcast_shapes(W.shape[:-2], features.shape[1:-1])
    except RuntimeError:
        raise ValueError(f"features' middle axes {tuple(features.shape[1:-1])} do not broadcast with W's leading "
                         f"axes {tuple(W.shape[:-2])}") from None
    batch = features.shape[0]
    d, n = W.shape[-2:]
    per_sample = max(1, int(torch.Size(lead).numel()) * d * n)
    chunk = max(1, _CHUNK_ENTRIES // per_sample)
    hits = torch.zeros(*lead, d, n, dtype=W.dtype, device=W.device)
    for start in range(0, batch, chunk):  # chunks of the batch, only to bound memory
        f = features[start:start + chunk]
        contribution = W.unsqueeze(0) * f.unsqueeze(-2)  # (chunk, ..., d, n)
        hits = hits + (contribution > threshold).to(W.dtype).sum(dim=0)
    if not given_active:
        return hits.sum(dim=-1) / batch
    active = (features != 0).to(W.dtype).sum(dim=0)  # (..., n)
    active = torch.broadcast_to(active, (*lead, n)).unsqueeze(-2)
    rate = torch.where(active > 0, hits / active.clamp(min=1), torch.zeros_like(hits))
    return rate.sum(dim=-1)


def neuron_polysemanticity_from_weights(W: torch.Tensor, threshold: float = 0.0,
                                        feature_value: float = 1.0) -> torch.Tensor:
    """Dataset-free count: how many features can push each neuron above ``threshold`` on their own.

    ``|{j : W_ij * feature_value > threshold}|``, where ``feature_value`` is the largest value a
    feature takes (1 for the course's features, uniform on [0, 1]). Needs no samples; for features
    uniform on ``[0, feature_value]`` it is an upper bound on
    ``neuron_polysemanticity(..., given_active=True)``.

    Args:
        W: ``(..., d_hidden, n_features)``.
        threshold: ``theta >= 0``.
        feature_value: positive.

    Returns:
        ``(..., d_hidden)`` counts (float dtype of ``W``).
    """
    W = _weights(W)
    threshold = v.non_negative_float("threshold", threshold)
    feature_value = v.positive_float("feature_value", feature_value)
    return (W * feature_value > threshold).to(W.dtype).sum(dim=-1)


def neuron_feature_groups(W: torch.Tensor, threshold: float = 0.0) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Groups of features that share neurons: the connected pieces of the graph that links neuron
    ``i`` and feature ``j`` when ``W_ij > threshold``.

    A monosemantic neuron and its feature form a group ``((j,), (i,))``; Toy Models of Superposition's
    privileged-basis regimes show up as larger groups, e.g. 3 features on 2 neurons
    ``((a, b, c), (i, k))``, or one feature spread over 2 neurons. Features and neurons with no
    link are left out.

    Args:
        W: ``(d_hidden, n_features)`` weights of one model (row ``i`` = neuron ``i``).
        threshold: ``theta >= 0``.

    Returns:
        A list of ``(features, neurons)`` tuples of sorted indices, ordered by their first feature.
    """
    W = _weights(W)
    if W.ndim != 2:
        raise ValueError(f"W must have shape (d_hidden, n_features) (one model), got shape {tuple(W.shape)}")
    threshold = v.non_negative_float("threshold", threshold)
    d, n = W.shape
    links = (W > threshold).cpu()
    parent = list(range(d + n))  # union-find over neurons 0..d-1 and features d..d+n-1

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in links.nonzero().tolist():
        parent[find(i)] = find(d + j)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    linked_neurons = links.any(1).tolist()
    linked_features = links.any(0).tolist()
    for j in range(n):
        if linked_features[j]:
            groups.setdefault(find(d + j), ([], []))[0].append(j)
    for i in range(d):
        if linked_neurons[i]:
            groups.setdefault(find(i), ([], []))[1].append(i)
    return sorted(((tuple(f), tuple(nr)) for f, nr in groups.values()), key=lambda g: g[0][0])


def neuron_regime(W: torch.Tensor, threshold: float = 0.0) -> str:
    """Name how the neurons of one model read its features, from :func:`neuron_polysemanticity_from_weights`.

    ``W``: ``(d_hidden, n_features)``. Neurons that no feature drives above ``threshold`` are left out;
    of the others, ``"monosemantic"`` when each reads exactly one feature, ``"polysemantic"`` when each
    reads two or more, ``"mixed"`` otherwise (also when no neuron is driven at all). One of
    :data:`NEURON_REGIMES`.
    """
    W = _weights(W)
    if W.ndim != 2:
        raise ValueError(f"W must be one model's (d_hidden, n_features) matrix, got shape {tuple(W.shape)}")
    counts = neuron_polysemanticity_from_weights(W, threshold)
    live = counts[counts > 0]
    if len(live) and bool((live == 1).all()):
        return "monosemantic"
    if len(live) and bool((live >= 2).all()):
        return "polysemantic"
    return "mixed"
