"""The hierarchical ground truth and the absorption / splitting measures (superpos_lib.hierarchy)."""

import pytest
import torch

from superpos_lib.hierarchy import absorption, hierarchical_features, latents_per_parent


def test_children_fire_only_with_their_parent_and_exclude_each_other():
    h = hierarchical_features(5, 3, 12, p_parent=0.4, p_child=0.3, seed=0)
    assert h.directions.shape == (20, 12) and torch.allclose(h.directions.norm(dim=1), torch.ones(20))
    assert h.parent_of[:5].tolist() == [-1] * 5 and h.parent_of[5:8].tolist() == [0, 0, 0]
    c = h.sample_coefficients(20000)
    on = c > 0
    for p in range(5):
        kids = on[:, h.children(p)]
        assert not (kids.any(1) & ~on[:, p]).any()           # child => parent
        assert kids.sum(1).max() <= 1                         # siblings exclude each other
        assert kids[on[:, p]].float().mean(0).sub(0.3).abs().max() < 0.03
    assert on[:, :5].float().mean().item() == pytest.approx(0.4, abs=0.02)
    fresh = [hierarchical_features(5, 3, 12, p_parent=0.4, p_child=0.3, seed=0)(3) for _ in range(2)]
    assert c.max() <= 1 and torch.equal(*fresh)
    with pytest.raises(ValueError, match="p_child"):
        hierarchical_features(5, 3, 12, p_child=0.5)
    with pytest.raises(ValueError, match="n_parents"):
        hierarchical_features(0, 3, 12)


def _absorbing_code(h, c):
    """A hand-built dictionary with the absorption pattern: one latent per feature, but the latent of
    child 0 of every parent points at parent + child, and the parent's latent is silent whenever
    that child is present."""
    P, C = h.n_parents, h.n_children
    learned = h.directions.clone()
    z = c.clone()
    for p in range(P):
        c0 = int(h.children(p)[0])
        learned[c0] = torch.nn.functional.normalize(h.directions[p] + h.directions[c0], dim=0)
        with_child = c[:, c0] > 0
        z[with_child, p] = 0.0
    return learned, z


def test_absorption_detects_a_planted_absorbing_dictionary():
    h = hierarchical_features(6, 2, 24, p_parent=0.3, p_child=0.4, seed=1)
    c = h.sample_coefficients(5000)
    honest = absorption(c, c, h.directions, h)
    assert torch.allclose(honest["absorption_rate"], torch.zeros(12))
    assert torch.allclose(honest["parent_recall_with_child"], torch.ones(12))
    learned, z = _absorbing_code(h, c)
    a = absorption(z, c, learned, h)
    first = torch.arange(0, 12, 2)      # child 0 of each parent absorbs
    assert torch.allclose(a["absorption_rate"][first], torch.ones(6))
    assert torch.allclose(a["parent_recall_with_child"][first], torch.zeros(6))
    assert torch.allclose(a["parent_recall_alone"], torch.ones(12))
    assert (a["child_parent_cos"][first] > 0.6).all()
    assert a["absorption_rate"][first + 1].max() == 0
    # batched over instances
    assert absorption(z.expand(2, -1, -1), c, learned.expand(2, -1, -1), h)["absorption_rate"].shape == (2, 12)


def test_latents_per_parent_counts_a_split_family():
    h = hierarchical_features(4, 3, 20, p_parent=0.3, p_child=0.3, seed=2)
    c = h.sample_coefficients(4000)
    # the true code: each family has 1 + 3 latents that fire only inside it
    assert latents_per_parent(c, c, h).tolist() == [4, 4, 4, 4]
    # a latent firing on two families is pure for neither
    mixed = torch.cat([c[:, :1] + c[:, 1:2], c[:, 2:4]], dim=1)
    assert latents_per_parent(mixed, c, h).tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="purity"):
        latents_per_parent(c, c, h, purity=0)
    with pytest.raises(ValueError, match="coefficients"):
        latents_per_parent(c, c[:, :5], h)
