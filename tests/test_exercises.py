import json
import textwrap

import nbformat
import pytest

from superpos_lib import exercises
from superpos_lib.exercises import build, stale, stub_source


def test_stub_keeps_signature_docstring_and_imports():
    source = textwrap.dedent('''
        import torch

        def f(x: torch.Tensor, k: int = 2) -> torch.Tensor:
            """Docstring with shapes: x (n,)."""
            y = x * k
            return y

        print(f(torch.ones(2)))
    ''')
    stub = stub_source(source)
    assert "import torch" in stub
    assert 'def f(x: torch.Tensor, k: int = 2) -> torch.Tensor:\n    """Docstring with shapes: x (n,)."""\n    raise NotImplementedError' in stub
    assert "y = x * k" not in stub and "print" not in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


def test_stub_without_docstring_and_with_decorator():
    stub = stub_source("@staticmethod\ndef g(a):\n    return a\n")
    assert stub.startswith("@staticmethod\ndef g(a):\n    raise NotImplementedError")


def test_solution_cell_must_define_a_function():
    with pytest.raises(ValueError, match="at least one function"):
        stub_source("x = 1\n")


def _chapter(tmp_path):
    root = tmp_path / "repo"
    (root / "chapters").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("def add(a, b):\n    '''a + b'''\n    return a + b\n",
                                  metadata={"tags": ["solution", "hide-input"]}),
        nbformat.v4.new_code_cell("add(1, 2)", outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "3"})],
                                  execution_count=3),
    ]
    nbformat.write(nb, root / "chapters" / "01_demo.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), root / "chapters" / "02_no_exercises.ipynb")
    return root


def test_build_writes_student_notebooks_and_detects_staleness(tmp_path):
    root = _chapter(tmp_path)
    assert stale(root) == ["01_demo.ipynb"]
    written = build(root)
    assert [p.name for p in written] == ["01_demo.ipynb"]  # chapters without exercises are skipped
    student = nbformat.read(root / "exercises" / "01_demo.ipynb", as_version=4)
    code = [c for c in student.cells if c.cell_type == "code"]
    assert "raise NotImplementedError" in code[0].source and "return a + b" not in code[0].source
    assert code[0].metadata["tags"] == ["exercise"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in student.metadata
    assert stale(root) == []
    chapter = root / "chapters" / "01_demo.ipynb"
    data = json.loads(chapter.read_text())
    data["cells"][0]["source"] = "# New title"
    chapter.write_text(json.dumps(data))
    assert stale(root) == ["01_demo.ipynb"]


def test_builder_refuses_to_write_outside_exercises(tmp_path):
    root = _chapter(tmp_path)
    with pytest.raises(ValueError, match="never writes elsewhere"):
        build(root, out=root / "chapters")
    with pytest.raises(ValueError, match="never writes elsewhere"):
        build(root, out=tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert exercises.main(["check", "--root", str(tmp_path)]) == 2
    assert "repository root" in capsys.readouterr().err


def test_committed_student_notebooks_are_current(repo_root):
    assert stale(repo_root) == [], "run: python -m superpos_lib.exercises build"


# ------------------------------------------------------------------------------------------------
# the fallback: a student notebook runs top to bottom with every stub left unimplemented
# ------------------------------------------------------------------------------------------------

import ast  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402

from superpos_lib.checks import check, check_or_reference, reference_implementation, registered_exercises  # noqa: E402
from superpos_lib.exercises.builder import fallback_source  # noqa: E402

from .conftest import ROOT  # noqa: E402


def test_checks_of_stubs_become_fallbacks_and_other_code_is_kept():
    source = 'from superpos_lib.checks import check\n\ncheck("welch_bound", welch)\ncheck("gini", lambda a: a)\n'
    new, imported = fallback_source(source, {"welch"})
    assert imported
    assert new == ('from superpos_lib.checks import check, check_or_reference\n\n'
                   "# Your function if it passes its check; otherwise the course's reference, so the cells below "
                   'still run.\nwelch = check_or_reference("welch_bound", welch)\ncheck("gini", lambda a: a)\n')
    later, _ = fallback_source('check("welch_bound", welch)', {"welch"}, imported=True)
    assert later.splitlines()[-1] == 'welch = check_or_reference("welch_bound", welch)'
    assert "import" not in later  # imported once per notebook
    alone, _ = fallback_source('check("welch_bound", welch)', {"welch"})
    assert alone.startswith("from superpos_lib.checks import check_or_reference\n")
    assert fallback_source('check("welch_bound", not_a_stub)', {"welch"})[0] == 'check("welch_bound", not_a_stub)'
    assert fallback_source("%pip install x", {"welch"})[0] == "%pip install x"


def _chapter_with_a_later_use():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math\nfrom superpos_lib.checks import check"),
        nbformat.v4.new_code_cell("def welch(m, n):\n    '''Welch bound.'''\n    return math.sqrt((n - m) / (m * (n - 1)))\n",
                                  metadata={"tags": ["solution", "hide-input"]}),
        nbformat.v4.new_code_cell('check("welch_bound", welch)'),
        nbformat.v4.new_code_cell("result = round(welch(2, 3), 6)\nprint(result)"),
    ]
    return nb


def _run_in_process(nb):
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, "<cell>", "exec"), namespace)
    return namespace, out.getvalue()


def test_student_notebook_with_a_stub_runs_on_the_reference_and_says_so():
    student = exercises.student_notebook(_chapter_with_a_later_use(), "99_demo.ipynb")
    assert student.metadata["superpos"] == {"chapter": "99_demo.ipynb", "exercises": ["welch_bound"]}
    namespace, printed = _run_in_process(student)
    assert namespace["result"] == 0.5  # the later cell ran, on the reference
    lines = printed.splitlines()
    assert lines[0].startswith("[NOT YET] welch_bound: not implemented yet")
    assert lines[1] == "Until yours passes, the cells below use the course's reference welch."
    assert lines[2] == "0.5"


def test_a_solved_stub_is_used_by_the_later_cells():
    student = exercises.student_notebook(_chapter_with_a_later_use(), "99_demo.ipynb")
    stub = student.cells[2]
    stub.source = stub.source.replace("raise NotImplementedError('Exercise: replace this line with your implementation.')",
                                      "return 0.25 + math.sqrt((n - m) / (m * (n - 1))) * 0.5")
    namespace, printed = _run_in_process(student)
    assert printed.splitlines()[0].startswith("[NOT YET] welch_bound")  # wrong: the reference is used
    assert namespace["result"] == 0.5
    stub.source = stub.source.replace("0.25 + ", "").replace(" * 0.5", "")
    namespace, printed = _run_in_process(student)
    assert printed.splitlines()[0] == "[PASSED] welch_bound: all checks passed."
    assert namespace["welch"].__module__ != "superpos_lib.checks.rip"  # the student's own function


def test_every_exercise_has_a_reference_that_passes_its_checker():
    for exercise in registered_exercises():
        reference = reference_implementation(exercise)
        assert reference is not None, f"{exercise}: register(..., reference=...) so students can fall back on it"
        assert check(exercise, lambda *a, **k: reference(*a, **k)).passed, exercise


def test_check_or_reference_returns_the_students_function_once_it_passes(capsys):
    def mine(m, n):
        return ((n - m) / (m * (n - 1))) ** 0.5

    assert check_or_reference("welch_bound", mine) is mine
    assert capsys.readouterr().out == "[PASSED] welch_bound: all checks passed.\n"


def _names_loaded(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


STUDENT_NOTEBOOKS = sorted((ROOT / "exercises").glob("*.ipynb"))


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_uses_a_stub_before_its_fallback(path):
    """Cheap static check of what tests/test_colab.py confirms by running every student notebook: once a
    stub is defined, every later cell that uses it comes after its `name = check_or_reference(...)`."""
    nb = nbformat.read(path, as_version=4)
    pending, problems = {}, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if "exercise" in cell.metadata.get("tags", []):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef):
                    pending[node.name] = index
            continue
        for name in list(pending):
            if f"{name} = check_or_reference(" in cell.source:
                del pending[name]
            elif name in _names_loaded(cell.source):
                problems.append(f"cell {index} uses the stub {name} (cell {pending[name]}) before its check")
    problems += [f"the stub {name} (cell {i}) has no check_or_reference cell" for name, i in pending.items()]
    assert not problems, "\n".join(problems)


CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_function_a_student_writes_is_used_by_the_chapter(path):
    """Students build what the chapter uses: every function in a `solution` cell is called by a later
    code cell of its chapter (its own check does not count), directly or through a later solution."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "solution" not in tags or "answer" in tags:
            continue
        for node in ast.parse(cell.source).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            later = [c.source for c in nb.cells[index + 1:] if c.cell_type == "code"
                     and not c.source.lstrip().startswith("check(")]
            if not any(node.name in _names_loaded(source) for source in later):
                problems.append(f"cell {index}: {node.name} is checked but no later cell uses it")
    assert not problems, "\n".join(problems)


def test_a_cell_tagged_expected_output_shows_the_chapters_output_to_students():
    nb = _chapter_with_a_later_use()
    figure = "iVBORw0KGgo="  # any base64 PNG payload
    nb.cells[3].metadata["tags"] = ["expected-output"]
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.5\n"),
                           nbformat.v4.new_output("stream", name="stderr", text="training: 100%|####| 3000/3000\n"),
                           nbformat.v4.new_output("display_data", {"image/png": figure, "text/plain": "<Figure>"})]
    student = exercises.student_notebook(nb, "99_demo.ipynb")
    index = next(i for i, c in enumerate(student.cells) if c.source.startswith("result = "))
    assert student.cells[index].outputs == []
    shown = student.cells[index + 1]
    assert shown.cell_type == "markdown" and shown.source.startswith("**Expected output**")
    assert "```text\n0.5\n```" in shown.source and "![expected figure](attachment:" in shown.source
    assert list(shown.attachments.values()) == [{"image/png": figure}]
    assert "training" not in shown.source  # progress bars on stderr are not a result
    nbformat.validate(student)
