"""Build the student notebooks in ``exercises/`` from the chapter notebooks.

In a chapter, an exercise's reference implementation sits in a code cell tagged ``solution``,
and a later cell checks it with ``check("exercise_name", function_name)``. The student copy keeps
every cell, with three changes:

- each function in a ``solution`` cell becomes a stub with the same signature and docstring whose
  body raises ``NotImplementedError``;
- each check of a stubbed function, ``check("name", fn)``, becomes
  ``fn = check_or_reference("name", fn)``: it prints the verdict and, while the student's function
  does not pass, hands the cells below the course's reference implementation (saying so in one
  line), so the notebook runs top to bottom with every stub left as it is;
- all outputs are cleared, and the notebook's metadata lists its exercises (for the grader); after a cell
  tagged ``expected-output`` a markdown cell shows that cell's output in the chapter (text and figures),
  so students can compare their result with the expected one.

The builder only ever writes inside ``<repo>/exercises/``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

__all__ = ["stub_source", "student_notebook", "has_exercises", "render", "build", "stale"]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
ANSWER_TAG = "answer"  # with "solution": the cell gives an answer (name = value) to a predict/interpret exercise
EXPECTED_TAG = "expected-output"  # a chapter cell whose output the student notebook shows as the expected one
OUT_DIR_NAME = "exercises"
METADATA_KEY = "superpos"
_STUB_MESSAGE = "Exercise: replace this line with your implementation."
_CHECK_CALL = re.compile(r"""\bcheck(?:_or_reference|_answer)?\(\s*["'](\w+)["']""")
_FALLBACK_COMMENT = "# Your function if it passes its check; otherwise the course's reference, so the cells below still run."


def stub_source(source: str, *, answers: bool = False) -> str:
    """Turn a solution cell's source into the student's stub.

    Imports and every top-level function definition are kept; each function keeps its
    decorators, signature and docstring, and its body becomes ``raise NotImplementedError``. With
    ``answers`` (a cell also tagged ``answer``: a predict or interpret exercise), each assignment
    ``name = value`` becomes ``name = ...``. Other top-level statements are dropped (they belong to
    the reference solution).
    """
    if not isinstance(source, str):
        raise ValueError(f"source must be a cell's source text (a str), got {type(source).__name__}")
    tree = ast.parse(source)
    lines = source.splitlines()
    pieces: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            pieces.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
        elif answers and isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            pieces.append(f"{node.targets[0].id} = ...  # your answer: replace the ... with it")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first_line = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            body_start = node.body[0]
            docstring = ast.get_docstring(node, clean=False) is not None
            keep_until = body_start.end_lineno if docstring else body_start.lineno - 1
            header = "\n".join(lines[first_line:keep_until])
            indent = " " * body_start.col_offset
            pieces.append(f"{header}\n{indent}raise NotImplementedError({_STUB_MESSAGE!r})")
    blanks = [n for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
              and isinstance(n.targets[0], ast.Name)] if answers else []
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in tree.body) and not blanks:
        raise ValueError("source: a cell tagged 'solution' must define at least one function "
                         "(or, tagged 'answer' too, give an answer: `name = value`)")
    return "\n\n\n".join(pieces) + "\n"


def _defined_functions(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _checked_stub(node: ast.stmt, stubs: set[str]) -> tuple[str, str] | None:
    """``(exercise, function)`` if ``node`` is the statement ``check("exercise", function)`` for a stub."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    call = node.value
    if not (isinstance(call.func, ast.Name) and call.func.id == "check" and len(call.args) == 2 and not call.keywords):
        return None
    exercise, fn = call.args
    if isinstance(exercise, ast.Constant) and isinstance(exercise.value, str) and isinstance(fn, ast.Name) \
            and fn.id in stubs:
        return exercise.value, fn.id
    return None


def fallback_source(source: str, stubs: set[str], imported: bool = False) -> tuple[str, bool]:
    """Rewrite each top-level ``check("name", fn)`` of a stubbed ``fn`` in a code cell's ``source``
    into ``fn = check_or_reference("name", fn)``; other code is left as it is.

    ``imported`` says whether an earlier cell already imports ``check_or_reference``; if not, the
    first rewritten cell does. Returns the new source and the new ``imported``.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: such a cell holds no check
        return source, imported
    lines = source.splitlines()
    edits = []  # (first line, last line, replacement lines), 1-based and inclusive
    import_done = imported or any(
        isinstance(n, ast.ImportFrom) and any(a.name == "check_or_reference" for a in n.names) for n in tree.body
    )
    found = [(node, hit) for node in tree.body if (hit := _checked_stub(node, stubs))]
    if not found:
        return source, import_done
    for node in tree.body:
        if (not import_done and isinstance(node, ast.ImportFrom) and node.module == "superpos_lib.checks"
                and [a.name for a in node.names] == ["check"] and node.names[0].asname is None):
            edits.append((node.lineno, node.end_lineno, ["from superpos_lib.checks import check, check_or_reference"]))
            import_done = True
    for node, (exercise, fn) in found:
        new = [_FALLBACK_COMMENT, f"{fn} = check_or_reference({json.dumps(exercise)}, {fn})"]
        if not import_done:
            new.insert(0, "from superpos_lib.checks import check_or_reference")
            import_done = True
        edits.append((node.lineno, node.end_lineno, new))
    for first, last, new in sorted(edits, reverse=True):
        lines[first - 1 : last] = new
    return "\n".join(lines) + ("\n" if source.endswith("\n") else ""), import_done


def exercise_names(notebook) -> list[str]:
    """Exercise names checked in a notebook's code cells (``check("name", ...)``), in order, once each."""
    names: list[str] = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code":
            for name in _CHECK_CALL.findall(_text(cell.get("source", ""))):
                if name not in names:
                    names.append(name)
    return names


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def expected_output_cell(cell, index: int):
    """A markdown cell showing a chapter cell's outputs (text and PNG figures) as the expected result."""
    import nbformat

    parts, attachments = ["**Expected output** (from the reference solution; yours should look like it):"], {}
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            continue  # progress bars and warnings: not a result to compare with
        data = output.get("data", {})
        text = output.get("text", "") if output.get("output_type") == "stream" else data.get("text/plain", "")
        if "image/png" in data:
            name = f"expected-{index}-{len(attachments)}.png"
            attachments[name] = {"image/png": data["image/png"]}
            parts.append(f"![expected figure](attachment:{name})")
        elif text:
            parts.append("```text\n" + ("".join(text) if isinstance(text, list) else text).rstrip("\n") + "\n```")
    new = nbformat.v4.new_markdown_cell("\n\n".join(parts), id=f"expected-output-{index}")
    if attachments:
        new["attachments"] = attachments
    return new


def student_notebook(chapter, chapter_name: str):
    """Return the student version (an ``nbformat`` notebook) of a chapter notebook."""
    import nbformat

    if not isinstance(chapter, dict) or not isinstance(chapter.get("cells"), list):
        raise ValueError("chapter must be a notebook (a dict with a list of cells, as nbformat.read returns)")
    if not isinstance(chapter_name, str):
        raise ValueError(f"chapter_name must be the chapter's file name (a str), got {chapter_name!r}")
    nb = nbformat.from_dict(nbformat.from_dict(chapter))  # deep copy
    stubs: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            stubs |= _defined_functions(cell.source)
    header = nbformat.v4.new_markdown_cell(
        f"**Student notebook** for `chapters/{chapter_name}`: the chapter with its solutions taken out. "
        "Each exercise cell holds a stub: replace its `raise NotImplementedError` with your code, then run "
        "the check cell below it. Until your function passes, the cells after the check use the course's "
        "reference implementation (a line under the check says so), so the notebook runs top to bottom "
        "whether or not you have solved the exercises yet.",
        id="student-header",
    )
    cells = [header]
    imported = False
    for index, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        expected = expected_output_cell(cell, index) if cell.cell_type == "code" and EXPECTED_TAG in tags else None
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if SOLUTION_TAG in tags:
                cell.source = stub_source(cell.source, answers=ANSWER_TAG in tags)
                tags = [t for t in tags if t not in (SOLUTION_TAG, ANSWER_TAG, "hide-input")] + [EXERCISE_TAG]
            else:
                cell.source, imported = fallback_source(cell.source, stubs, imported)
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
        cell.metadata.pop("execution", None)
        cells.append(cell)
        if expected is not None:
            cells.append(expected)
    nb.cells = cells
    nb.metadata.pop("widgets", None)  # saved widget state (pre-rendered frames): students run the cells
    nb.metadata[METADATA_KEY] = {"chapter": chapter_name, "exercises": exercise_names(nb)}
    return nb


def has_exercises(chapter) -> bool:
    if not isinstance(chapter, dict) or not isinstance(chapter.get("cells"), list):
        raise ValueError("chapter must be a notebook (a dict with a list of cells, as nbformat.read returns)")
    return any(SOLUTION_TAG in c.get("metadata", {}).get("tags", []) for c in chapter["cells"])


def _out_dir(root: Path, out: Path | None) -> Path:
    allowed = (root / OUT_DIR_NAME).resolve()
    target = allowed if out is None else Path(out).resolve()
    if target != allowed and allowed not in target.parents:
        raise ValueError(
            f"out must be {allowed} or a folder inside it (the builder never writes elsewhere, "
            f"so it cannot overwrite your own notebooks); got {target}"
        )
    return target


def render(root: Path) -> dict[str, str]:
    """Map each student notebook's file name to its JSON text, for every chapter with exercises."""
    import nbformat

    chapters = Path(root) / "chapters"
    if not chapters.is_dir():
        raise ValueError(f"root must be the repository root (with a chapters/ folder); got {root}")
    rendered = {}
    for path in sorted(chapters.glob("*.ipynb")):
        chapter = nbformat.read(path, as_version=4)
        if has_exercises(chapter):
            rendered[path.name] = nbformat.writes(student_notebook(chapter, path.name)) + "\n"
    return rendered


def build(root: Path = Path("."), out: Path | None = None) -> list[Path]:
    """Write the student notebooks; returns the paths written."""
    root = Path(root)
    target = _out_dir(root, out)
    rendered = render(root)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered.items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(root: Path = Path(".")) -> list[str]:
    """Names of student notebooks in ``exercises/`` that are missing or differ from a fresh build."""
    root = Path(root)
    target = _out_dir(root, None)
    problems = []
    for name, text in render(root).items():
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            problems.append(name)
    return problems
