import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from superpos_lib.plots import plot_best_match, plot_dead_fraction, plot_frontier


def test_plots_draw_and_label():
    ax = plot_frontier({"ReLU": (torch.tensor([3.0, 10.0]), torch.tensor([0.3, 0.05]), ["a", "b"])})
    assert "L0" in ax.get_xlabel() and ax.get_yscale() == "log" and ax.get_xscale() == "log"
    # several seeds: the line joins the means
    ax = plot_frontier({"TopK": (torch.tensor([[2.0, 2.0], [5.0, 5.0]]), torch.tensor([[0.3, 0.5], [0.1, 0.1]]), ["2", "5"])})
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([0.4, 0.1])
    h = {"step": torch.tensor([0, 10]), "dead_fraction": torch.tensor([[0.0, 0.0], [0.1, 0.3]])}
    ax = plot_dead_fraction({"run": h})
    assert ax.get_lines()[0].get_ydata()[-1] == pytest.approx(0.2)
    assert ax.get_ylim()[1] < 0.5                      # the axis fits the data, not [0, 1]
    ax = plot_best_match(torch.tensor([0.95, 0.5]), torch.tensor([0.1, 0.01]))
    from superpos_lib.plots import SPARSITY_LABEL
    assert ax.get_xlabel() == SPARSITY_LABEL and ax.get_xscale() == "log"
    assert sorted(ax.collections[0].get_offsets()[:, 0].tolist() + ax.collections[1].get_offsets()[:, 0].tolist()) == pytest.approx([10.0, 100.0])
    plt.close("all")


def test_plot_bad_inputs():
    with pytest.raises(ValueError, match="curves"):
        plot_frontier({})
    with pytest.raises(ValueError, match="positive"):
        plot_frontier({"x": (torch.tensor([0.0, 1.0]), torch.ones(2), ["a", "b"])})
    with pytest.raises(ValueError, match="same length"):
        plot_frontier({"x": (torch.ones(2), torch.ones(3), ["a", "b"])})
    with pytest.raises(ValueError, match="histories"):
        plot_dead_fraction({"x": {"step": torch.ones(2)}})
    with pytest.raises(ValueError, match="best_cos"):
        plot_best_match(torch.ones(3), torch.ones(2))
    plt.close("all")
