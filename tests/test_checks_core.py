import pytest
import torch

from superpos_lib.checks import CheckResult, Mismatch, check, compare, registered_exercises


def reference(W):
    return W.norm(dim=-2)


def test_reference_passes_and_result_reads_well():
    result = check("feature_norms", reference)
    assert isinstance(result, CheckResult) and result.passed and bool(result)
    assert repr(result) == "[PASSED] feature_norms: all checks passed."


def stub(W):
    raise NotImplementedError("Exercise: replace this line with your implementation.")


@pytest.mark.parametrize(
    "answer, message",
    [
        (stub, "not implemented yet"),
        (lambda W: W.norm(dim=-1), "norms over the last axis"),
        (lambda W: W.pow(2).sum(-2), "squared norms"),
        (lambda W: W.sum(-2), "summed the entries"),
        (lambda W: W.norm(dim=-2).T, "has shape (5, 3), expected (3, 5). It looks transposed"),
        (lambda W: W.norm(dim=-2) + 0.5, "largest difference 0.5"),
        (lambda W: 1 / 0, "ZeroDivisionError"),
        (lambda W: "hello", "should be a tensor"),
    ],
)
def test_typical_wrong_answers_get_plain_messages(answer, message):
    result = check("feature_norms", answer)
    assert not result.passed
    assert message in result.message
    assert "Traceback" not in repr(result)


def test_wrong_signature_is_explained():
    result = check("feature_norms", lambda: None)
    assert not result.passed and "keep the signature" in result.message


def test_not_callable_is_explained():
    result = check("feature_norms", torch.zeros(3))
    assert not result.passed and "Pass the function without calling it" in result.message


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(ValueError, match="exercise must be one of: .*feature_norms"):
        check("no_such_exercise", reference)


def test_registry_lists_checkers():
    assert "feature_norms" in registered_exercises()


def test_compare_reports_nan_and_transpose():
    expected = torch.arange(6.0).reshape(2, 3) + 1
    with pytest.raises(Mismatch, match="NaN"):
        compare(torch.full((2, 3), float("nan")), expected)
    square = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(Mismatch, match="transpose"):
        compare(square.T, square)
    compare(expected.clone(), expected)  # passes silently


def any_stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your implementation.")


@pytest.mark.parametrize("exercise", registered_exercises())
def test_every_checker_rejects_a_stub_and_a_non_function(exercise):
    stubbed = check(exercise, any_stub)
    assert not stubbed.passed and "not implemented yet" in stubbed.message
    not_callable = check(exercise, 42)
    assert not not_callable.passed and "Pass the function without calling it" in not_callable.message


def test_the_librarys_own_function_is_not_accepted_as_the_students():
    """Passing the library's function (often imported a few cells above) is refused in words, for a plain
    function and for a method; a student's function that calls the library is checked as usual."""
    from superpos_lib.metrics import feature_norms
    from superpos_lib.rip import mutual_coherence

    for exercise, fn in (("feature_norms", feature_norms), ("coherence", mutual_coherence)):
        result = check(exercise, fn)
        assert not result.passed
        assert "the library's superpos_lib." in result.message and "your own function" in result.message
    assert check("feature_norms", lambda W: feature_norms(W))
