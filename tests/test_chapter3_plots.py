"""Figures of the Sparsity chapter (superpos_lib.plots.sparsity)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from superpos_lib.plots import SPARSITY_LABEL, plot_dimensions_per_feature, plot_feature_directions


def test_dimensions_per_feature_plot():
    ax = plot_dimensions_per_feature([1.0, 0.1, 0.01], [1.0, 0.5, 0.4])
    assert ax.get_xscale() == "log"
    assert list(ax.lines[-1].get_xdata()) == pytest.approx([1.0, 10.0, 100.0])
    assert ax.get_xlabel() == SPARSITY_LABEL
    plt.close(ax.figure)


def test_feature_directions_plot():
    ax = plot_feature_directions(torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]), groups=[0, 0, 1])
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["0", "1", "2"]
    plt.close(ax.figure)
    ax = plot_feature_directions(torch.tensor([[0.5, 0.0], [0.0, 0.5]]), lim=1.3)
    assert ax.get_xlim() == pytest.approx((-1.3, 1.3))
    plt.close(ax.figure)


def test_bad_inputs():
    with pytest.raises(ValueError, match="feature_probability"):
        plot_dimensions_per_feature([0.0], [1.0])
    with pytest.raises(ValueError, match="dimensions_per_feature"):
        plot_dimensions_per_feature([0.5, 1.0], [1.0])
    with pytest.raises(ValueError, match="W must"):
        plot_feature_directions(torch.ones(3, 2))
    with pytest.raises(ValueError, match="groups"):
        plot_feature_directions(torch.ones(2, 2), groups=[0])
    plt.close("all")
