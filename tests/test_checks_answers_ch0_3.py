"""The predict and interpret exercises of chapters 0, 1b, 2 and 3: the chapter's answer passes, typical
wrong answers fail with the gap explained, and an unanswered cell says so."""

import math

import pytest

from superpos_lib.checks import check_answer

# (exercise, the truth the chapter computes, right answers, wrong answers with a phrase of their message)
NUMBERS = [
    ("worst_overlap_six", math.cos(math.pi / 6), [0.866, 0.87, math.sqrt(3) / 2],
     [(0.5, "30 degrees"), (math.cos(math.pi / 3), "too low"), (1.0, "too high")]),
    ("mean_overlap_d400", 0.0399, [0.04, 0.045], [(0.08, "halve it"), (0.02, "too low"), (0.05, "1/sqrt(d)")]),
]


@pytest.mark.parametrize("exercise, truth, right, wrong", NUMBERS, ids=[n[0] for n in NUMBERS])
def test_number_answers(exercise, truth, right, wrong):
    for answer in right:
        assert check_answer(exercise, answer, truth).passed, (exercise, answer)
    for answer, phrase in wrong:
        result = check_answer(exercise, answer, truth)
        assert not result.passed and phrase in result.message, result.message
        assert "the experiment gives" in result.message
    assert "not answered yet" in check_answer(exercise, ..., truth).message


NUMBERS_MORE = [
    ("rotation_loss_ratio", 1.0, [1.0, 1.005], [(5.0, "R^T R = I"), (0.0, "too low"), (0.5, "ratio 1")]),
    ("pentagon_vulnerability", 2.5, [2.5, 2.45], [(1.0, "D_j = 2/5"), (0.4, "too low"), (6.25, "too high")]),
    ("antipodal_count", 10, [10, 9, 11], [(5, "two antipodal"), (4, "too low"), (20, "too high")]),
]


@pytest.mark.parametrize("exercise, truth, right, wrong", NUMBERS_MORE, ids=[n[0] for n in NUMBERS_MORE])
def test_more_number_answers(exercise, truth, right, wrong):
    test_number_answers(exercise, truth, right, wrong)


CHOICES = [
    ("neuron_regime", "mixed", ["mixed", " Mixed"], ["monosemantic", "polysemantic"], "blocks above theta"),
    ("three_feature_phase", "3 in an antipodal pair", ["3 in an antipodal pair"], ["3 dropped", "1 and 2 antipodal"],
     "opposite directions"),
    ("correlated_dense_geometry", "collapsed", ["collapsed"], ["orthogonal", "antipodal"], "shared direction"),
    ("anticorrelated_geometry", "antipodal", ["antipodal", "ANTIPODAL"], ["orthogonal", "collapsed"], "costs nothing"),
]


@pytest.mark.parametrize("exercise, truth, right, wrong, phrase", CHOICES, ids=[c[0] for c in CHOICES])
def test_choice_answers(exercise, truth, right, wrong, phrase):
    for answer in right:
        assert check_answer(exercise, answer, truth).passed, (exercise, answer)
    for answer in wrong:
        result = check_answer(exercise, answer, truth)
        assert not result.passed and phrase in result.message and repr(truth) in result.message, result.message
    assert "is not one of the choices" in check_answer(exercise, "a hexagon", truth).message
    assert "not answered yet" in check_answer(exercise, ..., truth).message


def test_the_labels_the_library_computes():
    import torch

    from superpos_lib.checks import three_feature_phase_label
    from superpos_lib.metrics import neuron_regime, pair_geometry

    assert neuron_regime(torch.eye(3), 0.3) == "monosemantic"
    assert neuron_regime(torch.ones(2, 3), 0.3) == "polysemantic"
    assert neuron_regime(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), 0.3) == "mixed"  # a dead neuron is left out
    W = torch.tensor([[1.0, 1.0, 0.0, 0.1], [0.0, 0.05, 1.0, 0.0]])
    assert pair_geometry(W, 0) == "collapsed" and pair_geometry(W, 1) == "orthogonal"
    assert pair_geometry(W, 2) == "dropped"
    assert pair_geometry(torch.tensor([[1.0, -1.0], [0.0, 0.1]]), 0) == "antipodal"
    assert pair_geometry(torch.tensor([[1.0, 1.0], [0.0, 1.0]]), 0) == "other"
    with pytest.raises(ValueError, match="a must be"):
        pair_geometry(W, 3)
    assert three_feature_phase_label(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]])) == "3 in an antipodal pair"
    assert three_feature_phase_label(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])) == "3 dropped"
    assert three_feature_phase_label(torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])) == "1 and 2 antipodal"
    assert three_feature_phase_label(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])) == "1 dropped"
    angles = torch.tensor([0.0, 2.094, 4.189])
    assert three_feature_phase_label(torch.stack([angles.cos(), angles.sin()])) == "other"  # a triangle
    with pytest.raises(ValueError, match="one model's"):
        three_feature_phase_label(torch.zeros(3, 2))
