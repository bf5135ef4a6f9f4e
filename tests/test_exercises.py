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
