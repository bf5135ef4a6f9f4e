"""The labels the interpret exercises are graded against: each rule on hand-made cases, both sides of
every boundary."""

import pytest
import torch

from superpos_lib.checks import (ablation_effect_label, amortisation_gap_label, frontier_gap_label,
                                 least_absorption_label, overlap_sign_label)


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


TOPK = [(8.0, 0.80), (16.0, 0.85), (32.0, 0.90), (64.0, 0.92)]


@pytest.mark.parametrize("relu_at_32, label", [(0.879, "less"), (0.881, "about the same"), (0.919, "about the same"),
                                               (0.921, "more")])
def test_frontier_gap_label_boundaries(relu_at_32, label):
    # the other curve passes through (32, relu_at_32): its value there is read exactly, TopK's is 0.90
    assert frontier_gap_label(TOPK, [(10.0, 0.5), (32.0, relu_at_32), (100.0, 0.95)], 32) == label


def test_frontier_gap_label_interpolates_in_log_l0():
    # halfway between L0 8 and 32 on a log axis is 16: the mean of the two values
    assert frontier_gap_label([(8.0, 0.0), (32.0, 1.0)], [(8.0, 0.49), (32.0, 0.49)], 16, tolerance=0.0) == "less"
    assert frontier_gap_label([(8.0, 0.0), (32.0, 1.0)], [(8.0, 0.51), (32.0, 0.51)], 16, tolerance=0.0) == "more"
    assert frontier_gap_label([(32.0, 1.0), (8.0, 0.0)], [(8.0, 0.51), (32.0, 0.51)], 16, tolerance=0.0) == "more"


def test_frontier_gap_label_does_not_extrapolate():
    with pytest.raises(ValueError, match="outside"):
        frontier_gap_label(TOPK, [(10.0, 0.5), (30.0, 0.6)], 32)
