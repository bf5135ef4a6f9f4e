"""The grader (python -m superpos_lib.exercises grade): one grading run of a small class, shared by the
tests below to keep the number of kernels down (chapter 0 and synthetic notebooks that use real checkers)."""

import csv
import hashlib
import shutil

import nbformat
import pytest

from superpos_lib.exercises import grade, main, student_notebook, summary
from superpos_lib.exercises.grader import CSV_COLUMNS, grade_notebook, write_csv

from .conftest import ROOT

SOLUTION = ["solution", "hide-input"]


def _chapter():
    """A two-exercise chapter using real checkers; its last cell uses both functions."""
    cells = [
        nbformat.v4.new_markdown_cell("# Demo"),
        nbformat.v4.new_code_cell("import math\nimport torch\nfrom superpos_lib.checks import check"),
        nbformat.v4.new_code_cell("def norms(W):\n    '''Feature norms.'''\n    return W.norm(dim=-2)\n",
                                  metadata={"tags": SOLUTION}),
        nbformat.v4.new_code_cell('check("feature_norms", norms)'),
        nbformat.v4.new_code_cell("def welch(m, n):\n    '''Welch bound.'''\n    return math.sqrt((n - m) / (m * (n - 1)))\n",
                                  metadata={"tags": SOLUTION}),
        nbformat.v4.new_code_cell('check("welch_bound", welch)'),
        nbformat.v4.new_code_cell("print(round(float(norms(torch.ones(1, 4, 2))[0, 0]), 3), round(welch(2, 3), 3))"),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def _student(solve_welch=False):
    nb = student_notebook(_chapter(), "99_demo.ipynb")
    if solve_welch:
        cell = next(c for c in nb.cells if c.source.startswith("def welch"))
        cell.source = cell.source.replace("raise NotImplementedError('Exercise: replace this line with your "
                                          "implementation.')", "return math.sqrt((n - m) / (m * (n - 1)))")
        assert "NotImplementedError" not in cell.source
    return nb


def _write(folder, name, nb):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    return path


def _with_cell(source):
    nb = _student()
    nb.cells.insert(2, nbformat.v4.new_code_cell(source))
    return nb


RIP_SOLVED = {}  # the exercise solved in the chapter 5 submission below, filled when it is built


def _rip_with_first_function_solved():
    """Chapter 5's student notebook with its first function exercise solved: the stub cell gets the
    chapter's own solution (matched by the function's name), everything else stays a stub."""
    import ast

    chapter = nbformat.read(ROOT / "chapters" / "05_rip.ipynb", as_version=4)
    student = nbformat.read(ROOT / "exercises" / "05_rip.ipynb", as_version=4)
    solution = next(c for c in chapter.cells if "solution" in c.metadata.get("tags", []) and "def " in c.source)
    name = next(n.name for n in ast.parse(solution.source).body if isinstance(n, ast.FunctionDef))
    stub = next(c for c in student.cells if c.cell_type == "code" and f"def {name}(" in c.source
                and "NotImplementedError" in c.source)
    stub.source = solution.source
    check_cell = next(c for c in chapter.cells if c.cell_type == "code" and "check(" in c.source
                      and f", {name})" in c.source)
    RIP_SOLVED["exercise"] = check_cell.source.split('check("')[1].split('"')[0]
    return student


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    paths = {
        "reference": base / "ref" / "00_getting_started.ipynb",
        "student": base / "stu" / "00_getting_started.ipynb",
        "one_solved": _write(base / "ann", "99_demo.ipynb", _student(solve_welch=True)),
        "none_solved": _write(base / "bob", "99_demo.ipynb", _student()),
        "raises": _write(base / "cat", "99_demo.ipynb", _with_cell("raise RuntimeError('boom')")),
        "dies": _write(base / "dan", "99_demo.ipynb", _with_cell("import os\nos._exit(3)")),
        "library": _write(base / "fay", "99_demo.ipynb", _with_cell("")),
        "not_json": base / "gus" / "99_demo.ipynb",
        "missing": base / "hal" / "99_demo.ipynb",
    }
    paths["rip_reference"] = base / "ref5" / "05_rip.ipynb"
    paths["rip_student"] = base / "stu5" / "05_rip.ipynb"
    for key, source in (("reference", ROOT / "chapters" / "00_getting_started.ipynb"),
                        ("student", ROOT / "exercises" / "00_getting_started.ipynb"),
                        ("rip_reference", ROOT / "chapters" / "05_rip.ipynb"),
                        ("rip_student", ROOT / "exercises" / "05_rip.ipynb")):
        paths[key].parent.mkdir(parents=True)
        shutil.copy(source, paths[key])
    paths["rip_one_solved"] = _write(base / "ivy", "05_rip.ipynb", _rip_with_first_function_solved())
    library = nbformat.read(paths["library"], as_version=4)  # passes the library's own function
    library.cells.append(nbformat.v4.new_code_cell("from superpos_lib.rip import welch_bound\n"
                                                   'check("welch_bound", welch_bound)'))
    nbformat.write(library, paths["library"])
    paths["not_json"].parent.mkdir(parents=True)
    paths["not_json"].write_text("print('a Python script, not a notebook')\n")
    digests = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items() if p.exists()}
    order = list(paths)
    grades = dict(zip(order, grade([paths[k] for k in order], timeout=300, jobs=2, progress=None)))
    hangs = _write(base / "eve", "99_demo.ipynb", _with_cell("import time\ntime.sleep(600)"))
    digests["hangs"] = hashlib.sha256(hangs.read_bytes()).hexdigest()
    paths["hangs"] = hangs
    grades["hangs"] = grade_notebook(hangs, timeout=8, student="eve")  # alone, so that a short limit is fair
    return grades, paths, digests


def _verdicts(result):
    return {v.exercise: v for v in result.verdicts}


def test_reference_chapter_passes_everything(graded):
    result = graded[0]["reference"]
    assert result.status == "ok", result.reason
    assert result.verdicts and all(v.passed for v in result.verdicts), result.verdicts
    assert result.student == "ref"


def test_generated_student_notebook_fails_everything_without_crashing(graded):
    result = graded[0]["student"]
    assert result.status == "ok", result.reason  # the stub's fallback lets every cell run
    assert result.verdicts and not any(v.passed for v in result.verdicts)
    assert all("not implemented yet" in v.message or "not answered yet" in v.message for v in result.verdicts)
    assert any("not answered yet" in v.message for v in result.verdicts)  # chapter 0's predictions count too


def test_a_second_chapter_reference_passes_and_student_notebook_fails_everything(graded):
    ref, stu = graded[0]["rip_reference"], graded[0]["rip_student"]
    assert ref.status == "ok" and stu.status == "ok", (ref.reason, stu.reason)
    assert len(ref.verdicts) >= 4 and all(v.passed for v in ref.verdicts), ref.verdicts
    assert {v.exercise for v in stu.verdicts} == {v.exercise for v in ref.verdicts}
    assert not any(v.passed for v in stu.verdicts)


def test_exactly_the_solved_exercise_passes_in_a_real_chapter(graded):
    result = graded[0]["rip_one_solved"]
    assert result.status == "ok", result.reason
    passed = {e for e, v in _verdicts(result).items() if v.passed}
    assert passed == {RIP_SOLVED["exercise"]}, _verdicts(result)


def test_exactly_the_solved_exercise_passes(graded):
    one, none = graded[0]["one_solved"], graded[0]["none_solved"]
    assert one.status == "ok" and none.status == "ok", (one.reason, none.reason)
    assert {e: v.passed for e, v in _verdicts(one).items()} == {"feature_norms": False, "welch_bound": True}
    assert {e: v.passed for e, v in _verdicts(none).items()} == {"feature_norms": False, "welch_bound": False}


def test_a_cell_that_raises_is_reported_and_the_rest_still_runs(graded):
    result = graded[0]["raises"]
    assert result.status == "error" and "RuntimeError: boom" in result.reason
    assert set(_verdicts(result)) == {"feature_norms", "welch_bound"}  # later checks still ran
    assert all("not implemented yet" in v.message for v in result.verdicts)


def test_a_dead_kernel_is_a_crash(graded):
    result = graded[0]["dies"]
    assert result.status == "crashed" and "kernel died" in result.reason
    assert not any(v.passed for v in result.verdicts)
    assert all("did not run" in v.message and "kernel died" in v.message for v in result.verdicts)


def test_a_hanging_notebook_times_out(graded):
    result = graded[0]["hangs"]
    assert result.status == "timeout" and "8 s" in result.reason
    assert not any(v.passed for v in result.verdicts)


def test_a_file_that_is_not_a_notebook_is_failed_with_the_reason(graded):
    assert graded[0]["not_json"].status == "invalid" and "not a Jupyter notebook" in graded[0]["not_json"].reason
    assert graded[0]["missing"].status == "invalid" and graded[0]["missing"].reason == "file not found"


def test_the_library_function_does_not_count_as_the_students(graded):
    """The notebook's stub fails, and check() refuses the library's function passed in a later cell
    (tests/test_checks_core.py checks the message), so the exercise stays failed."""
    verdict = _verdicts(graded[0]["library"])["welch_bound"]
    assert not verdict.passed


def test_submitted_files_are_never_modified(graded):
    _, paths, digests = graded
    for key, digest in digests.items():
        assert hashlib.sha256(paths[key].read_bytes()).hexdigest() == digest, key
        assert [p.name for p in paths[key].parent.iterdir()] == [paths[key].name], "nothing written next to it"


def test_csv_has_one_row_per_notebook_and_exercise(graded, tmp_path):
    results = list(graded[0].values())
    out = tmp_path / "grades.csv"
    write_csv(results, out)
    rows = list(csv.DictReader(out.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected_rows = sum(max(1, len(g.verdicts)) for g in results)
    assert len(rows) == expected_rows
    ann = [r for r in rows if r["student"] == "ann"]
    assert {(r["exercise"], r["result"]) for r in ann} == {("feature_norms", "failed"), ("welch_bound", "passed")}
    assert all(r["message"] for r in ann)
    gus = [r for r in rows if r["student"] == "gus"]
    assert len(gus) == 1 and gus[0]["result"] == "failed" and gus[0]["notebook_status"].startswith("invalid")


def test_summary_has_a_table_per_student(graded):
    text = summary(list(graded[0].values()))
    assert "ann: 1/2 exercises passed" in text
    assert "not yet: feature_norms: not implemented yet" in text
    assert "eve: 0/2 exercises passed" in text and "timeout" in text


def test_command_line_grades_and_writes_the_csv(graded, tmp_path, capsys):
    path = graded[1]["one_solved"]
    out = tmp_path / "cli.csv"
    assert main(["grade", str(path), "--timeout", "60", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1/2 exercises passed" in printed and out.exists()
    assert main(["grade", str(path), "--timeout", "-1"]) == 2
    assert "timeout must be a positive number" in capsys.readouterr().err


def test_grade_rejects_bad_arguments():
    with pytest.raises(ValueError, match="paths"):
        grade("one.ipynb")
    with pytest.raises(ValueError, match="paths"):
        grade([])
    with pytest.raises(ValueError, match="jobs"):
        grade(["one.ipynb"], jobs=0)
    with pytest.raises(ValueError, match="timeout"):
        grade_notebook(ROOT / "exercises" / "00_getting_started.ipynb", timeout=0)
