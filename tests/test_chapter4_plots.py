import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from superpos_lib.plots import plot_l1_geometry, plot_phase_diagrams, plot_sensing_phase_diagram, plot_recovery  # noqa: E402


def test_plots_draw_labelled_figures():
    rates = torch.rand(4, 3)
    fig = plot_sensing_phase_diagram(rates, [0.2, 0.5, 0.8], [0.1, 0.3, 0.5, 0.7], title="l1")
    ax = fig.axes[0]
    assert "delta" in ax.get_xlabel() and "rho" in ax.get_ylabel()
    assert len(ax.lines) == 1  # the Donoho-Tanner curve
    plt.close(fig)
    fig = plot_l1_geometry()
    assert fig.axes[0].get_xlabel() == "$x_1$"
    plt.close(fig)
    fig = plot_recovery(torch.tensor([0.0, 1.0, -1.0]), torch.tensor([0.0, 0.9, -1.0]), title="t")
    assert "feature" in fig.axes[0].get_xlabel()
    plt.close(fig)


def test_plot_bad_inputs():
    with pytest.raises(ValueError, match="rates"):
        plot_sensing_phase_diagram(torch.rand(3, 3), [0.2, 0.5], [0.1, 0.3, 0.5])
    with pytest.raises(ValueError, match="x_hat"):
        plot_recovery(torch.zeros(3), torch.zeros(4))


def test_phase_diagrams_share_one_colourbar_and_draw_cells_at_k_over_m():
    rho = torch.tensor([[0.1, 0.1], [0.2, 0.25], [0.3, 0.25]])  # a repeated k in column 2
    rates = torch.tensor([[1.0, 1.0], [0.5, 0.2], [0.0, 0.2]])
    fig = plot_phase_diagrams({"a": (rates, rho), "b": (rates, rho)}, [0.3, 0.6])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    colourbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 2 and len(colourbars) == 1
    assert "success rate" in colourbars[0].get_ylabel()
    for ax in panels:
        assert "delta" in ax.get_xlabel()
        assert len(ax.collections) == 2  # one mesh per delta column
    labels = fig.legends[0].get_texts()
    assert any("weak threshold" in t.get_text() for t in labels) and any("ell_0" in t.get_text() for t in labels)
    plt.close(fig)
    with pytest.raises(ValueError, match="panel"):
        plot_phase_diagrams({"a": (rates, rho[:2])}, [0.3, 0.6])
