"""Answer exercises (predict, then run; interpret): numbers within a tolerance, labels from a list."""

import pytest
import torch

from superpos_lib.checks import _answers, check_answer, register_answer, registered_answers
from superpos_lib.exercises import stub_source


@pytest.fixture
def exercises(monkeypatch):
    monkeypatch.setattr(_answers, "_ANSWERS", {})
    register_answer("pentagon_d", tolerance=0.02, explanation="five features share two dimensions: D = 2/5.")
    register_answer("loss_ratio", tolerance=0.1, relative=True)
    register_answer("regime", choices=["dedicated", "superposition", "not learned"],
                    explanation="a feature in superposition has ||W_i|| near 1 and shares its direction.")
    return registered_answers()


def test_numbers_pass_within_the_tolerance_and_the_gap_is_explained(exercises):
    assert exercises == ["loss_ratio", "pentagon_d", "regime"]
    assert check_answer("pentagon_d", 0.4, torch.tensor(0.401)).passed
    assert check_answer("pentagon_d", torch.tensor(0.41), 0.401).passed
    wrong = check_answer("pentagon_d", 0.5, 0.401)
    assert not wrong.passed
    assert wrong.message == ("you predicted 0.5; the experiment gives 0.401, so your prediction is 0.099 too high "
                             "(allowed: 0.02). five features share two dimensions: D = 2/5.")
    assert check_answer("loss_ratio", 10.5, 10.0).passed and not check_answer("loss_ratio", 8.0, 10.0).passed
    assert "too low" in check_answer("loss_ratio", 8.0, 10.0).message


def test_labels_must_be_one_of_the_choices(exercises):
    assert check_answer("regime", " Superposition", "superposition").passed
    wrong = check_answer("regime", "dedicated", "superposition")
    assert not wrong.passed and "the library's label is 'superposition'" in wrong.message
    assert "is not one of the choices" in check_answer("regime", "pentagon", "superposition").message
    assert "(a string)" in check_answer("regime", 3, "superposition").message


def test_unanswered_and_malformed_answers_get_plain_messages(exercises):
    assert "not answered yet" in check_answer("pentagon_d", ..., 0.4).message
    assert "answer with a number" in check_answer("pentagon_d", "0.4", 0.4).message
    assert "answer with a number" in check_answer("pentagon_d", float("nan"), 0.4).message


def test_misuse_by_the_chapter_is_a_value_error(exercises):
    with pytest.raises(ValueError, match="exercise"):
        check_answer("nope", 1, 1)
    with pytest.raises(ValueError, match="truth"):
        check_answer("regime", "dedicated", "a pentagon")
    with pytest.raises(ValueError, match="truth"):
        check_answer("pentagon_d", 0.4, "0.4")
    with pytest.raises(ValueError, match="registered twice"):
        register_answer("regime", choices=["a"])
    with pytest.raises(ValueError, match="exactly one of tolerance"):
        register_answer("both", tolerance=0.1, choices=["a"])
    with pytest.raises(ValueError, match="tolerance"):
        register_answer("negative", tolerance=-1)
    with pytest.raises(ValueError, match="choices"):
        register_answer("text", choices="abc")


def test_an_answer_in_a_solution_cell_becomes_a_blank_for_the_student():
    assert stub_source("import math\nprediction = 2 / 5\n", answers=True) == (
        "import math\n\n\nprediction = ...  # your answer: replace the ... with it\n")
    with pytest.raises(ValueError, match="tagged 'answer'"):
        stub_source("prediction = 2 / 5\n")  # an answer cell is tagged 'answer' as well


def test_answers_reach_the_grader_and_the_student_notebook(exercises, tmp_path, monkeypatch):
    import json

    import nbformat

    from superpos_lib.checks._core import GRADE_LOG_ENV
    from superpos_lib.exercises import student_notebook
    from superpos_lib.exercises.grader import _verdicts

    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    check_answer("pentagon_d", 0.4, 0.4)
    record = json.loads(log.read_text())
    assert record["exercise"] == "pentagon_d" and record["passed"] is True
    assert _verdicts(["pentagon_d", "regime"], log.read_text().splitlines(), "not reached")[0].passed

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("prediction = 0.4", metadata={"tags": ["solution", "answer", "hide-input"]}),
        nbformat.v4.new_code_cell('check_answer("pentagon_d", prediction, 0.4)'),
    ])
    student = student_notebook(nb, "99_demo.ipynb")
    assert student.cells[1].source.startswith("prediction = ...")
    assert student.cells[1].metadata["tags"] == ["exercise"]
    assert student.metadata["superpos"]["exercises"] == ["pentagon_d"]
