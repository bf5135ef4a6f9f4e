"""The labels the interpret exercises are graded against: each rule on hand-made cases, both sides of
every boundary."""

import pytest
import torch

from superpos_lib.checks import (ablation_effect_label, amortisation_gap_label, least_absorption_label,
                                 overlap_sign_label)


def test_overlap_sign_label():
    assert overlap_sign_label([0.1, 0.2], [0.3, 0.4]) == "positive"
    assert overlap_sign_label(torch.tensor([0.5, 0.6]), torch.tensor([0.3, 0.4])) == "negative"
    assert overlap_sign_label([0.1, 0.6], [0.3, 0.4]) == "mixed"
    assert overlap_sign_label([0.3], [0.3]) == "mixed"  # a tie keeps neither smaller


def test_least_absorption_label():
    assert least_absorption_label({16: [0.3, 0.1], 64: torch.tensor([0.15, 0.15]), 128: 0.4}) == "64"
    assert least_absorption_label({"a": [0.2], "b": [0.2]}) == "a"  # ties go to the first


@pytest.mark.parametrize("solver, label", [(0.089, "more"), (0.091, "about the same"), (0.109, "about the same"),
                                           (0.111, "less")])
def test_amortisation_gap_label_boundaries(solver, label):
    assert amortisation_gap_label(0.1, solver) == label


def test_amortisation_gap_label_tolerance():
    assert amortisation_gap_label(0.1, 0.08, tolerance=0.25) == "about the same"


def test_ablation_effect_label():
    controls = torch.tensor([[0.0, 1.0, -1.0, 0.0], [0.0, 1.0, -1.0, 0.0]])  # mean 0, sample sd 0.816
    assert ablation_effect_label([1.6, 0.0], controls) == "within the controls"   # z = 1.96
    assert ablation_effect_label([0.0, -1.7], controls) == "beyond the controls"  # z = -2.08
    wide = controls * 10
    assert ablation_effect_label([1.7, 0.0], [wide, controls]) == "beyond the controls"  # beyond one kind suffices
    assert ablation_effect_label([1.7, 0.0], [wide]) == "within the controls"
    assert ablation_effect_label([1.7, 0.0], controls, z=3.0) == "within the controls"
