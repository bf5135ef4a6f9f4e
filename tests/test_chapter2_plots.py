"""Figures of the Polysemanticity chapter (superpos_lib.plots.neurons)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from superpos_lib.plots import (IMPORTANCE_CMAP, SPARSITY_LABEL, figure_to_png, importance_colorbar,
                                plot_against_probability, plot_neuron_weights, plot_weight_heatmap)


def test_neuron_weights_stacks_positive_and_negative():
    W = torch.tensor([[1.0, -0.5, 0.25], [0.0, 2.0, 0.0]])
    ax = plot_neuron_weights(W, title="t")
    heights = [p.get_height() for p in ax.patches]
    assert len(ax.patches) == 2 * 2 * 3  # (positive + negative bars) x neurons x features
    assert pytest.approx(sum(h for h in heights if h > 0)) == 3.25
    assert pytest.approx(sum(h for h in heights if h < 0)) == -0.5
    assert ax.get_xlabel() == "neuron i"
    assert figure_to_png(ax.figure).startswith(b"\x89PNG")


def test_neuron_weights_colour_by_importance_yellow_most_important():
    W = torch.ones(2, 3)
    ax = plot_neuron_weights(W, importance=[1.0, 0.5, 0.1], colorbar=True)
    cmap = plt.get_cmap(IMPORTANCE_CMAP)
    first_feature = ax.patches[0].get_facecolor()  # feature 0's bar of neuron 0
    last_feature = ax.patches[-1].get_facecolor()
    assert first_feature == pytest.approx(cmap(1.0))  # bright yellow = most important
    assert last_feature == pytest.approx(cmap(0.0))
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert colorbar_axes and "importance" in colorbar_axes[0].get_ylabel()
    plt.close(ax.figure)
    fig, axes = plt.subplots(1, 2)
    for a in axes:
        plot_neuron_weights(W, ax=a)
    assert "importance" in importance_colorbar(fig, list(axes), [1.0, 0.5, 0.1]).ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="importance"):
        plot_neuron_weights(W, importance=[1.0])


def test_heatmap_and_curves():
    ax = plot_weight_heatmap(torch.randn(3, 5), vmax=2.0)
    assert ax.get_ylabel() == "neuron i"
    assert ax.images[0].get_clim() == (-2.0, 2.0)
    assert ax.figure.axes[-1].get_ylabel() == "weight"
    plt.close(ax.figure)
    ax = plot_against_probability([0.1, 1.0], {"a": [1, 2], "b": torch.tensor([3.0, 4.0])}, ylabel="y")
    assert ax.get_xlabel() == SPARSITY_LABEL and ax.get_xscale() == "log"
    assert list(ax.lines[0].get_xdata()) == pytest.approx([10.0, 1.0])  # 1/p, sparser to the right
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
