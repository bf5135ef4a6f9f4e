"""Figures of the Polysemanticity chapter (superpos_lib.plots.neurons)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from superpos_lib.plots import figure_to_png, plot_against_probability, plot_neuron_weights, plot_weight_heatmap


def test_neuron_weights_stacks_positive_and_negative():
    W = torch.tensor([[1.0, -0.5, 0.25], [0.0, 2.0, 0.0]])
    ax = plot_neuron_weights(W, title="t")
    heights = [p.get_height() for p in ax.patches]
    assert len(ax.patches) == 2 * 2 * 3  # (positive + negative bars) x neurons x features
    assert pytest.approx(sum(h for h in heights if h > 0)) == 3.25
    assert pytest.approx(sum(h for h in heights if h < 0)) == -0.5
    assert ax.get_xlabel() == "neuron i"
    assert figure_to_png(ax.figure).startswith(b"\x89PNG")


def test_heatmap_and_curves():
    ax = plot_weight_heatmap(torch.randn(3, 5))
    assert ax.get_ylabel() == "neuron i"
    plt.close(ax.figure)
    ax = plot_against_probability([0.1, 1.0], {"a": [1, 2], "b": torch.tensor([3.0, 4.0])}, ylabel="y")
    assert ax.get_xlabel() == "feature probability p = 1 - S"
    assert len(ax.lines) == 2
    plt.close(ax.figure)


def test_bad_inputs():
    with pytest.raises(ValueError, match="W must"):
        plot_neuron_weights(torch.ones(3))
    with pytest.raises(ValueError, match="W must"):
        plot_weight_heatmap([[1.0]])
    with pytest.raises(ValueError, match="feature_probability"):
        plot_against_probability([0.0, 1.0], {"a": [1, 2]}, ylabel="y")
    with pytest.raises(ValueError, match="feature_probability"):
        plot_against_probability([1.5], {"a": [1]}, ylabel="y")
    with pytest.raises(ValueError, match="curves"):
        plot_against_probability([0.5, 1.0], {"a": [1, 2, 3]}, ylabel="y")
    plt.close("all")
