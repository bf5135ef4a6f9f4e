"""Every claim the prose of chapters/01_superposition.ipynb makes, checked on the chapter's setup or a
smaller one with the same hyperparameters (only the feature probabilities the prose talks about).
Where a value comes from training, the test asserts what theory or a baseline guarantees (an
ordering, a range, the optimum's structure), not the chapter's digits."""

import pytest
import torch

from superpos_lib.metrics import feature_angles, feature_dimensionality, feature_norms, represented_features
from superpos_lib.toy_models import (ToyModel, best_of_repeats, evaluate, one_sparse_loss_terms,
                                     optimised_phase_boundary, train, two_feature_antipodal_optimum,
                                     two_feature_expected_loss, two_feature_phase, two_feature_phase_boundary,
                                     two_feature_phase_losses)

SCHEDULE = dict(steps=3_000, batch_size=256, lr=1e-2, lr_schedule="cosine", progress=False)
IMPORTANCE = 0.9 ** torch.arange(5.0)
PROBS = 20.0 ** -torch.linspace(0, 1, 10)
IDX = [0, 4, 9]  # p = 1, 0.26, 0.05: the instances the chapter prints


def _best(repeats, **kwargs):
    p = PROBS[IDX]
    m = ToyModel(5, 2, 3 * repeats, importance=IMPORTANCE, feature_probability=p.repeat(repeats)[:, None], **kwargs)
    train(m, **SCHEDULE)
    return best_of_repeats(m, repeats)


@pytest.fixture(scope="module")
def five_in_two():
    return {"relu": _best(8), "linear": _best(3, linear=True), "nobias": _best(4, bias=False)}


def test_linear_baseline_with_bias_keeps_the_d_most_important_features(five_in_two):
    W, b, loss = five_in_two["linear"]
    norms = feature_norms(W)
    assert torch.allclose(norms[:, :2], torch.ones(3, 2), atol=0.05)  # TMS's linear optimum: (1, 1, 0, 0, 0)
    assert (norms[:, 2:] < 0.15).all()
    assert torch.allclose(W.pow(2).sum(dim=(1, 2)), torch.full((3,), 2.0), atol=0.05)  # ||W||_F^2 = d
    p = PROBS[IDX]
    assert torch.allclose(b[:, 2:], (p / 2)[:, None].expand(3, 3), atol=0.03)  # dropped features: their mean p/2
    assert represented_features(W).tolist() == [2, 2, 2]
    # the ReLU model with bias contains the solutions of neither baseline, but beats both at sparse p
    relu_loss, nobias_loss = five_in_two["relu"][2], five_in_two["nobias"][2]
    assert (relu_loss[1:] < 0.9 * loss[1:]).all()
    assert (relu_loss <= nobias_loss * 1.02).all()  # a bias can always be set to zero


def test_relu_model_represents_the_most_important_features(five_in_two):
    W = five_in_two["relu"][0]
    on = [(feature_norms(W[k]) > 0.5).nonzero().flatten().tolist() for k in range(3)]
    assert on == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4]]  # best of 8: no local minimum keeps feature 4 over 2 or 3
    assert W[2].pow(2).sum() > 6  # ||W||_F^2 past 6: five features a little longer than 1 in 2 dimensions


def test_dense_regime_two_orthogonal_unit_features_and_mean_biases(five_in_two):
    W, b, _ = five_in_two["relu"]
    norms = feature_norms(W[0])
    assert torch.allclose(norms[:2], torch.ones(2), atol=0.03) and (norms[2:] < 0.15).all()
    assert abs(feature_angles(W[0])[0, 1].item() - 90) < 2
    assert torch.allclose(b[0, 2:], torch.full((3,), 0.5), atol=0.05)  # E[f] = p/2 at p = 1


def test_intermediate_regime_two_antipodal_pairs(five_in_two):
    W = five_in_two["relu"][0][1]
    on = (feature_norms(W) > 0.5).nonzero().flatten()
    assert torch.allclose(feature_dimensionality(W)[on], torch.full((4,), 0.5), atol=0.03)
    A = feature_angles(W)
    for i in on.tolist():
        assert max(A[i, j].item() for j in on.tolist()) > 178


def test_sparse_regime_pentagon_with_negative_bias_and_norm_compensation(five_in_two):
    W, b, _ = five_in_two["relu"]
    W, b = W[2], b[2]
    norms = feature_norms(W)
    order = torch.atan2(W[1], W[0]).argsort()
    A = feature_angles(W)
    neighbours = torch.tensor([A[order[k], order[(k + 1) % 5]].item() for k in range(5)])
    assert ((neighbours - 72).abs() < 4).all()
    assert (b < -0.1).all()  # the negative bias that filters the positive interference of the neighbours
    assert torch.allclose(norms ** 2, 1 - b, atol=0.1)  # ||W_i||^2 ~ 1 - b_i
    assert torch.allclose(feature_dimensionality(W), torch.full((5,), 0.4), atol=0.02)


def test_relu_without_bias_keeps_antipodal_pairs_but_no_pentagon(five_in_two):
    W = five_in_two["nobias"][0][2]  # p = 0.05
    norms = feature_norms(W)
    on = norms > 0.5
    assert on.sum() == 4 and norms[~on].max() < 0.4
    assert torch.allclose(feature_dimensionality(W)[on], torch.full((4,), 0.5), atol=0.03)


def test_loss_split_relu_and_bias_remove_interference(five_in_two):
    W, b, loss = five_in_two["relu"]
    t = one_sparse_loss_terms(W, b, IMPORTANCE)
    assert t["interference"][0] < 2e-3 and t["linear_interference"][0] < 2e-3  # dense: two orthogonal features
    assert t["linear_interference"][2] > 50 * t["interference"][2]  # the pentagon's interference, filtered
    assert t["linear_interference"][1] > 10 * max(t["interference"][1].item(), 1e-6)  # antipodal: free
    p = PROBS[IDX].double()
    one = (1 - p) ** 5 * t["empty"] + 5 * p * (1 - p) ** 4 * (t["benefit"] + t["interference"] + t["bias"])
    # inputs with at most one feature are part of the loss: never more than all of it, a real part at p = 0.05
    assert one[2] <= loss[2] * 1.05 and one[2] > 0.25 * loss[2]


def test_twenty_features_in_five_dimensions():
    p = torch.logspace(0, -2, 10)
    m = ToyModel(20, 5, 20, importance=0.9 ** torch.arange(20.0), feature_probability=p.repeat(2)[:, None])
    train(m, steps=4_000, batch_size=512, lr=3e-3, lr_schedule="cosine", progress=False)
    W, b, _ = best_of_repeats(m, 2)
    counts = represented_features(W)
    assert counts[0] == 5 and counts[-1] >= 15
    assert (counts[1:] >= counts[:-1]).all()  # monotone in sparsity
    top = W[0][:, :5]
    assert torch.allclose(top.T @ top, torch.eye(5), atol=0.06)  # dense: the 5 most important, orthogonal
    plateau = [k for k in range(10) if counts[k] == 10]
    assert len(plateau) >= 2  # five antipodal pairs over several probabilities
    assert abs(counts[3].item() - 10) <= 1.5  # Exercise 1.5's key (2 x 5 antipodal) at p = 0.215
    for k in plateau:
        on = feature_norms(W[k]) > 0.5
        D = feature_dimensionality(W[k])[on]
        assert abs(D.mean().item() - 0.5) < 0.03 and ((D - 0.5).abs() < 0.12).all()
    on = feature_norms(W[9]) > 0.5
    G = W[9][:, on].T @ W[9][:, on]
    off = G[~torch.eye(len(G), dtype=torch.bool)]
    assert (off > 0.05).sum() > 0 and b[9][on].mean() < -0.1  # positive interference and negative biases


def test_optimised_antipodal_pair_has_a_positive_bias_and_moves_the_boundary_up():
    loss, params = two_feature_antipodal_optimum(torch.tensor(1.0), torch.tensor(4 / 7))
    assert params[2] > 0.1 and params[3] > 0.1 and params[0] < 0.95  # positive bias, shorter weights
    assert loss < 2 * (4 / 7) ** 2 / 6 - 0.01  # beats the idealised pair
    r = torch.tensor([0.46, 0.77, 1.29, 2.15])
    p = torch.linspace(0.2, 0.9, 36)
    b_opt = optimised_phase_boundary(r, p, two_feature_phase_losses(r[:, None], p[None, :], optimise_antipodal=True))
    assert (b_opt > two_feature_phase_boundary(r) + 0.02).all()


@pytest.fixture(scope="module")
def phase_grid():
    """The chapter's grid, identical: 10 importances x 14 probabilities, three copies each."""
    R = torch.logspace(-1, 1, 10)
    P = torch.cat([torch.logspace(0, -2, 9), torch.tensor([0.75, 0.65, 0.48, 0.42, 0.36])]).sort(descending=True).values
    RR, PP = torch.meshgrid(R, P, indexing="xy")
    imp = torch.stack([torch.ones(RR.numel()), RR.reshape(-1)], dim=-1).repeat(3, 1)
    m = ToyModel(2, 1, RR.numel() * 3, importance=imp, feature_probability=PP.reshape(-1, 1).repeat(3, 1))
    train(m, **SCHEDULE | dict(steps=2_000))
    W, b, _ = best_of_repeats(m, 3)
    return RR, PP, two_feature_phase(W).reshape(RR.shape), b.reshape(*RR.shape, 2)


def test_phase_diagram_matches_closed_form_and_optimised(phase_grid):
    RR, PP, trained, b = phase_grid
    closed = two_feature_phase_losses(RR, PP).argmin(-1)
    opt = two_feature_phase_losses(RR, PP, optimise_antipodal=True).argmin(-1)
    assert (trained == closed).float().mean() >= 0.9
    assert (trained == opt).float().mean() >= 0.9
    assert b[trained == 2].mean() > -0.01  # trained antipodal biases are not negative on average
    # dense rows: the more important feature owns the dimension, the switch at r = 1
    R = RR[0]
    assert (closed[0] == torch.where(R < 1, 0, 1)).all() and (trained[0] == torch.where(R < 1, 0, 1)).all()
    assert two_feature_phase_boundary(torch.tensor(1.0)).item() == pytest.approx(4 / 7)


def test_first_order_change_at_fixed_relative_importance():
    p = torch.linspace(0.15, 0.8, 20)
    m = ToyModel(2, 1, 60, importance=torch.tensor([1.0, 0.5]), feature_probability=p.repeat(3)[:, None])
    train(m, **SCHEDULE | dict(steps=2_000, batch_size=1024))
    W, _, loss = best_of_repeats(m, 3)
    w2 = W[:, 0, 1].abs()
    assert w2[0] > 0.8 and w2[-1] < 0.1
    steps = (w2[1:] - w2[:-1]).abs()
    assert steps.max() > 0.7 and (steps > 0.3).sum() == 1  # one jump, no gradual change
    closed = two_feature_phase_losses(0.5, p)
    best = torch.minimum(closed[:, 0], two_feature_antipodal_optimum(torch.full_like(p, 0.5), p)[0])
    assert ((2 * loss - best) > -2e-3).all()  # no trained model beats the best candidate (up to sampling noise)
    assert ((2 * loss - best) < 6e-3).all()
    # both solutions are local minima near the crossing: the loss with |W_2| held fixed has a barrier
    path = []
    for w in (0.0, 0.4, 0.8):
        prm = torch.tensor([1.0, w, 0.0, 0.2], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([prm], lr=0.01)
        for _ in range(300):
            opt.zero_grad()
            value = two_feature_expected_loss(prm, 0.5, 0.46)
            value.backward()
            prm.grad[1] = 0
            opt.step()
        path.append(value.item())
    assert path[1] > path[0] > path[2]


def test_a_training_loop_built_from_the_exercise_pieces_finds_the_pentagon():
    """Section 1.1's own loop (the chapter's cell, run with the reference pieces) at p = 0.05: five
    features represented, a loss below the best solution without superposition and within 10% of the
    library's fused kernel with the same initialisation, learning rate and schedule."""
    import math

    import nbformat

    from superpos_lib.checks import reference_implementation
    from tests.conftest import ROOT

    nb = nbformat.read(ROOT / "chapters" / "01_superposition.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "def train_your_model" in c.source)
    namespace = {"torch": torch, "math": math, "time": __import__("time"), "timings": {}, "device": "cpu",
                 "ToyModel": ToyModel, "train": train, "best_of_repeats": best_of_repeats,
                 "feature_norms": feature_norms, "feature_dimensionality": feature_dimensionality,
                 "generate_features": reference_implementation("sparse_features"),
                 "toy_forward": reference_implementation("toy_forward"),
                 "toy_loss": reference_implementation("toy_loss"), "print": lambda *a, **k: None}
    exec(source, namespace)
    W_own, loss_own, loss_library = namespace["W_own"], namespace["loss_own"], namespace["loss_library"]
    assert (feature_norms(W_own[0]) > 0.5).sum().item() == 5
    assert loss_own.item() < namespace["no_superposition"]
    assert abs(loss_own.item() - loss_library.item()) < 0.1 * loss_library.item()
