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
