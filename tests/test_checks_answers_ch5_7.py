"""The predict and interpret exercises of chapters 4, 5, 6b, 7 and 8: the chapter's answer passes, typical wrong
answers fail with the gap and the reason explained, and an unanswered cell says so."""

import math

import pytest

from superpos_lib.checks import check_answer

from tests.test_checks_answers_ch0_3 import test_choice_answers as _choice, test_number_answers as _number

# (exercise, the truth the chapter computes, right answers, wrong answers with a phrase of their message)
NUMBERS = [
    ("omp_gaussian_success", 0.57, [0.55, 0.45, 0.7], [(0.02, "too low"), (1.0, "too high")]),
    ("pentagon_coherence", 0.816, [0.81, math.cos(math.pi / 5)],
     [(math.cos(2 * math.pi / 5), "next-but-one pair"), (1.0, "too high"), (0.5, "too low")]),
    ("matched_latents", 128, [128, 120, 135], [(512, "one matched latent per"), (60, "too low")]),
    ("random_rms_cosine", 0.0513, [0.051, 1 / math.sqrt(384)], [(0.0, "1/sqrt(d)"), (0.2, "too high")]),
]


@pytest.mark.parametrize("exercise, truth, right, wrong", NUMBERS, ids=[n[0] for n in NUMBERS])
def test_number_answers(exercise, truth, right, wrong):
    _number(exercise, truth, right, wrong)


CHOICES = [
    ("overlap_sign", "positive", ["positive", " Positive"], ["negative", "mixed"], "false positive"),
    ("least_absorption", "16", ["16"], ["64", "128"], "no room for a latent per child"),
    ("amortisation_gap", "more", ["more", "More"], ["about the same", "less"], "amortisation gap"),
    ("ablation_effect", "within the controls", ["within the controls"], ["beyond the controls"], "|z| > 2"),
    ("relu_frontier", "less", ["less", "Less "], ["more", "about the same"], "shrinking"),
]


@pytest.mark.parametrize("exercise, truth, right, wrong, phrase", CHOICES, ids=[c[0] for c in CHOICES])
def test_choice_answers(exercise, truth, right, wrong, phrase):
    _choice(exercise, truth, right, wrong, phrase)


def test_a_number_is_not_a_choice_and_a_word_is_not_a_number():
    assert "(a string)" in check_answer("overlap_sign", 1, "positive").message
    assert "answer with a number" in check_answer("pentagon_coherence", "cos 36", 0.81).message
