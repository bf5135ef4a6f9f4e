import pytest
import torch

from superpos_lib.metrics import neuron_polysemanticity, neuron_polysemanticity_from_weights


def test_hand_computed_expectation():
    W = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # (d=2, n=3)
    f = torch.tensor([[1.0, 1.0, 1.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.2, 0.4]])  # (batch=4, n)
    # neuron 0: counts 2, 1, 0, 0 (0.2 <= 0.3) -> 0.75 ; neuron 1: 1, 0, 0, 1 (0.8 > 0.3) -> 0.5
    out = neuron_polysemanticity(W, f, threshold=0.3)
    assert torch.allclose(out, torch.tensor([0.75, 0.5]))
    # given active: neuron 0: feature 0 active twice, above twice -> 1; feature 1 active 2x, above 1x -> 0.5
    out = neuron_polysemanticity(W, f, threshold=0.3, given_active=True)
    assert torch.allclose(out, torch.tensor([1.5, 1.0]))


def test_batched_instances_and_broadcast():
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 4, 6, generator=gen)
    f = torch.rand(50, 3, 6, generator=gen)
    out = neuron_polysemanticity(W, f, 0.1)
    assert out.shape == (3, 4)
    for k in range(3):
        assert torch.allclose(out[k], neuron_polysemanticity(W[k], f[:, k], 0.1))
    shared = neuron_polysemanticity(W, f[:, :1], 0.1)  # one batch broadcast over instances
    assert torch.allclose(shared[2], neuron_polysemanticity(W[2], f[:, 0], 0.1))


def test_chunking_gives_same_result(monkeypatch):
    import superpos_lib.metrics.neurons as neurons

    gen = torch.Generator().manual_seed(1)
    W = torch.randn(2, 3, 5, generator=gen)
    f = torch.rand(40, 2, 5, generator=gen) * (torch.rand(40, 2, 5, generator=gen) < 0.3)
    full = neuron_polysemanticity(W, f, 0.2, given_active=True)
    monkeypatch.setattr(neurons, "_CHUNK_ENTRIES", 7)
    assert torch.allclose(full, neuron_polysemanticity(W, f, 0.2, given_active=True))


def test_given_active_does_not_depend_on_density():
    # a neuron reading 3 features with weight 1: raw count scales with p, the conditional one does not
    W = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    values = torch.rand(20000, 4, generator=gen)
    out = []
    for p in (0.05, 0.5):
        f = values * (torch.rand(20000, 4, generator=gen) < p)
        out.append((neuron_polysemanticity(W, f, 0.5).item(), neuron_polysemanticity(W, f, 0.5, given_active=True).item()))
    assert out[0][0] == pytest.approx(3 * 0.05 * 0.5, abs=0.01)
    assert out[1][0] == pytest.approx(3 * 0.5 * 0.5, abs=0.03)
    assert out[0][1] == pytest.approx(1.5, abs=0.06) and out[1][1] == pytest.approx(1.5, abs=0.03)


def test_from_weights():
    W = torch.tensor([[[0.5, -2.0, 0.3], [1.0, 1.0, 1.0]]])
    assert torch.equal(neuron_polysemanticity_from_weights(W, 0.4), torch.tensor([[1.0, 3.0]]))
    assert torch.equal(neuron_polysemanticity_from_weights(W, 0.4, feature_value=0.5), torch.tensor([[0.0, 3.0]]))


def test_bad_inputs():
    W = torch.ones(2, 3)
    f = torch.ones(5, 3)
    with pytest.raises(ValueError, match="threshold"):
        neuron_polysemanticity(W, f, -0.1)
    with pytest.raises(ValueError, match="W must"):
        neuron_polysemanticity(torch.ones(3), f, 0.1)
    with pytest.raises(ValueError, match="features must"):
        neuron_polysemanticity(W, torch.ones(5, 4), 0.1)
    with pytest.raises(ValueError, match="features must"):
        neuron_polysemanticity(W, torch.ones(3), 0.1)
    with pytest.raises(ValueError, match="features"):
        neuron_polysemanticity(torch.ones(2, 2, 3), torch.ones(5, 3, 3), 0.1)
    with pytest.raises(ValueError, match="threshold"):
        neuron_polysemanticity_from_weights(W, -1.0)
    with pytest.raises(ValueError, match="feature_value"):
        neuron_polysemanticity_from_weights(W, 0.1, feature_value=0.0)
    with pytest.raises(ValueError, match="W must"):
        neuron_polysemanticity_from_weights([[1.0]], 0.1)


def test_neuron_feature_groups():
    from superpos_lib.metrics import neuron_feature_groups

    # neuron 0: features 0 and 2; neuron 1: features 1 and 2 (a 3-in-2 code); neuron 2: feature 3 alone;
    # neuron 3 reads nothing above the threshold; feature 4 is dropped; feature 5 is spread over neurons 4, 5
    W = torch.zeros(6, 6)
    W[0, 0] = W[0, 2] = W[1, 1] = W[1, 2] = 1.0
    W[2, 3] = 0.9
    W[3, 4] = 0.1
    W[4, 5] = W[5, 5] = 0.7
    groups = neuron_feature_groups(W, 0.3)
    assert groups == [((0, 1, 2), (0, 1)), ((3,), (2,)), ((5,), (4, 5))]
    assert neuron_feature_groups(torch.eye(3)) == [((0,), (0,)), ((1,), (1,)), ((2,), (2,))]
    with pytest.raises(ValueError, match="W must"):
        neuron_feature_groups(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="threshold"):
        neuron_feature_groups(W, -1.0)
