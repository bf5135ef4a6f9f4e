import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from superpos_lib.plots import (DIMENSIONALITY_FRACTIONS, SPARSITY_LABEL, figure_to_png, plot_dimensionality,  # noqa: E402
                                plot_dimensionality_dynamics, plot_features_2d, plot_loss_terms, plot_nonuniform,
                                plot_phase_crossing, plot_phase_diagram, plot_represented_counts,
                                plot_superposition_bars, plot_vulnerability)


def W(I=4, d=2, n=5, seed=0):
    return torch.randn(I, d, n, generator=torch.Generator().manual_seed(seed))


def white_png(fig):
    png = figure_to_png(fig, dpi=40)
    img = plt.imread(io.BytesIO(png))
    assert img.shape[-1] in (3, 4)
    assert np.allclose(img[0, 0, :3], 1.0)  # white corner: opaque white background
    return png


def axis_labels(fig):
    return [ax.get_xlabel() + "|" + ax.get_ylabel() for ax in fig.axes if ax.get_visible()]


def test_features_2d_titles_and_labels():
    p = torch.tensor([1.0, 0.5, 0.1, 0.05])
    fig = plot_features_2d(W(), p, importance=0.9 ** torch.arange(5.0))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()][:4]
    assert titles == ["p = 1", "p = 0.5", "p = 0.1", "p = 0.05"]
    assert all("hidden dim 1" in lab for lab in axis_labels(fig)[:4])
    assert "feature importance" in axis_labels(fig)[-1]  # the importance colourbar
    white_png(fig)
    fig = plot_features_2d(W(I=7), titles=[f"m{k}" for k in range(7)], ncols=3)
    assert sum(ax.get_visible() for ax in fig.axes) == 8  # 7 panels and the colourbar
    plt.close("all")


def test_superposition_bars_and_dimensionality():
    p = torch.logspace(0, -2, 4)
    fig = plot_superposition_bars(W(d=3, n=8), p)
    assert "p = 1" in fig.axes[0].get_title()
    white_png(fig)
    fig = plot_dimensionality(W(I=6, d=5, n=20), torch.logspace(0, -2, 6))
    labels = axis_labels(fig)
    assert any(SPARSITY_LABEL in lab for lab in labels)
    texts = " ".join(t.get_text() for t in fig.axes[1].texts)
    for name in ("pentagon", "tetrahedron", "digon", "square antiprism", "triangle"):
        assert name in texts
    assert set(DIMENSIONALITY_FRACTIONS) >= {1.0, 0.75, 2 / 3, 0.5, 0.4, 0.375}
    white_png(fig)
    plt.close("all")


def test_phase_diagram_and_counts():
    r, p = torch.logspace(-1, 1, 5), torch.logspace(0, -2, 4)
    phase = torch.randint(-1, 3, (4, 5), generator=torch.Generator().manual_seed(0))
    fig = plot_phase_diagram(r, p, phase, analytic_phase=phase.clamp_min(0),
                             optimised_boundary=(r, torch.full((5,), 0.5)))
    assert len([ax for ax in fig.axes]) == 2
    assert all(SPARSITY_LABEL in lab for lab in axis_labels(fig))
    white_png(fig)
    fig = plot_phase_diagram(r, p, phase.clamp_max(3), phase_names=["a", "b", "c", "d"], boundary=False)
    white_png(fig)
    fig = plot_represented_counts(p, {"ReLU": torch.tensor([2, 3, 4, 5]), "linear": torch.tensor([2, 2, 2, 2])},
                                  d_hidden=2, n_features=5)
    assert SPARSITY_LABEL in fig.axes[0].get_xlabel()
    white_png(fig)
    plt.close("all")


def test_new_figures_label_their_axes():
    p = torch.logspace(0, -2, 6)
    fig = plot_phase_crossing(p, {"a": p, "trained": p ** 2}, weight=torch.ones(6))
    assert SPARSITY_LABEL in fig.axes[0].get_xlabel() and "W_2" in fig.axes[1].get_ylabel()
    white_png(fig)
    fig = plot_loss_terms(p, {"benefit": p, "interference": p ** 2}, total=p)
    assert SPARSITY_LABEL in fig.axes[0].get_xlabel()
    white_png(fig)
    fig = plot_dimensionality_dynamics(torch.arange(5), torch.rand(5, 4), torch.rand(10), loss_steps=torch.arange(10))
    assert fig.axes[-1].get_xlabel() == "training step"
    white_png(fig)
    fig = plot_vulnerability(p, {"v": p}, ylabel="vulnerability")
    white_png(fig)
    fig = plot_nonuniform(p, torch.rand(6, 5), torch.rand(6, 5), xlabel="density ratio", snap=0.3)
    white_png(fig)
    fig = plot_superposition_bars(W(d=3, n=8), p[:4], b=torch.randn(4, 8))
    assert any("bias" in ax.get_xlabel() for ax in fig.axes)
    with pytest.raises(ValueError, match="b must"):
        plot_superposition_bars(W(d=3, n=8), p[:4], b=torch.randn(4, 7))
    with pytest.raises(ValueError, match="losses"):
        plot_phase_crossing(p, {"a": p[:3]})
    with pytest.raises(ValueError, match="D must"):
        plot_dimensionality_dynamics(torch.arange(5), torch.rand(4, 4))
    plt.close("all")


def test_bad_inputs():
    with pytest.raises(ValueError, match="W"):
        plot_features_2d(W(d=3))
    with pytest.raises(ValueError, match="feature_probability"):
        plot_features_2d(W(), torch.ones(3))
    with pytest.raises(ValueError, match="feature_probability"):
        plot_features_2d(W(), torch.full((4,), 1.5))
    with pytest.raises(ValueError, match="titles"):
        plot_features_2d(W(), titles=["a"])
    with pytest.raises(ValueError, match="importance"):
        plot_features_2d(W(), importance=torch.ones(3))
    with pytest.raises(ValueError, match="max_instances"):
        plot_superposition_bars(W(I=12))
    with pytest.raises(ValueError, match="feature_probability"):
        plot_dimensionality(W(), None)
    with pytest.raises(ValueError, match="phase"):
        plot_phase_diagram(torch.ones(3), torch.ones(2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="counts"):
        plot_represented_counts(torch.ones(3), {})
    with pytest.raises(ValueError, match="counts"):
        plot_represented_counts(torch.ones(3), {"a": torch.ones(2)})
    plt.close("all")
