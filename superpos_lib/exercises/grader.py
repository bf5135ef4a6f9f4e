"""Grade submitted notebooks: run each one and record every exercise checker's verdict.

Each notebook runs in a fresh Jupyter kernel of the grader's own Python (so with the grader's
superpos_lib, whatever kernels the machine's Jupyter lists), in an empty temporary folder, under a
time limit, and is read but never written. While it runs, every ``check(...)`` it calls (including the
``check_or_reference(...)`` cells of the student notebooks) appends its verdict to a log that the
grader reads afterwards (see ``superpos_lib.checks._core.GRADE_LOG_ENV``). A cell that raises
does not stop the run (later exercises still count); a notebook that crashes the kernel, runs
past the time limit or is not a notebook is reported as failed, with the reason, and the other
submissions are graded as usual::

    python -m superpos_lib.exercises grade submissions/*/*.ipynb --timeout 900 --csv grades.csv
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["grade", "grade_notebook", "summary", "write_csv"]  # results: NotebookGrade, Verdict

CSV_COLUMNS = ("student", "notebook", "exercise", "result", "message", "notebook_status")
DEFAULT_TIMEOUT = 1200


@dataclass(frozen=True)
class Verdict:
    """One exercise of one notebook: passed or not, and the checker's message (or why no check ran)."""

    exercise: str
    passed: bool
    message: str


@dataclass
class NotebookGrade:
    """The outcome of running one submitted notebook.

    ``status`` is ``"ok"`` (every cell ran), ``"error"`` (a cell raised; the run went on),
    ``"timeout"``, ``"crashed"`` (the kernel died) or ``"invalid"`` (not a readable notebook);
    ``reason`` says what happened in words.
    """

    path: Path
    student: str
    status: str
    reason: str = ""
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(v.passed for v in self.verdicts)


def _expected_exercises(nb) -> list[str]:
    from ..checks import registered_answers, registered_exercises
    from .builder import METADATA_KEY, exercise_names

    listed = list(nb.metadata.get(METADATA_KEY, {}).get("exercises", []))
    known = set(registered_exercises()) | set(registered_answers())
    return [name for name in dict.fromkeys(listed + exercise_names(nb)) if name in known]


def _first_error(nb) -> str:
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                value = output.get("evalue", "")
                value = value if len(value) <= 200 else value[:197] + "..."
                return f"code cell {number} raised {output.get('ename', 'an error')}: {value}"
    return ""


def _verdicts(expected: Sequence[str], log_lines: Iterable[str], missing_reason: str) -> list[Verdict]:
    records: dict[str, list[dict]] = {}
    for line in log_lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("exercise"), str):
            records.setdefault(record["exercise"], []).append(record)
    verdicts = []
    for exercise in dict.fromkeys([*expected, *records]):
        runs = records.get(exercise, [])
        passing = [r for r in runs if r.get("passed") is True]  # check() never passes the library's own function
        if passing:
            verdicts.append(Verdict(exercise, True, str(passing[0].get("message", ""))))
        elif runs:
            verdicts.append(Verdict(exercise, False, str(runs[0].get("message", ""))))
        else:
            verdicts.append(Verdict(exercise, False, f"its check did not run ({missing_reason})."))
    return verdicts


def _student_names(paths: Sequence[Path]) -> list[str]:
    """One folder per student (``alice/01_superposition.ipynb``), or, when every notebook sits in the
    same folder, one file per student (``alice.ipynb``)."""
    folders = {p.resolve().parent for p in paths}
    if len(folders) == 1:
        return [p.stem for p in paths]
    return [p.resolve().parent.name for p in paths]


_KERNEL_NAME = "superpos-grade"


def _kernel_manager(folder: Path):
    """A kernel manager that starts this very Python (``sys.executable``), whatever kernels the
    machine's Jupyter knows: the notebook runs with the grader's superpos_lib."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = folder / "kernels" / _KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (superpos grader)", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return AsyncKernelManager(kernel_name=_KERNEL_NAME, kernel_spec_manager=specs)


def grade_notebook(path: Path, *, timeout: float = DEFAULT_TIMEOUT, student: str | None = None) -> NotebookGrade:
    """Run one notebook in a fresh kernel in a temporary folder and collect its checkers' verdicts.

    ``timeout`` is the time limit in seconds for the whole notebook. Never raises for a bad
    submission: a notebook that cannot be read, crashes or hangs comes back as a failed grade.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from ..checks._core import GRADE_LOG_ENV

    if not isinstance(path, (str, Path)):
        raise ValueError(f"path must be the notebook's path (a str or Path), got {type(path).__name__}")
    if student is not None and not isinstance(student, str):
        raise ValueError(f"student must be a name (a str) or None, got {type(student).__name__}")
    path = Path(path)
    timeout = _positive_timeout(timeout)
    student = student if student is not None else path.stem
    try:
        nb = nbformat.read(path, as_version=4)  # a schema detail that Jupyter tolerates is not held against it
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except FileNotFoundError:
        return NotebookGrade(path, student, "invalid", "file not found")
    except Exception as error:  # noqa: BLE001: anything unreadable is "not a notebook"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return NotebookGrade(path, student, "invalid", f"not a Jupyter notebook ({reason[:200]})")
    expected = _expected_exercises(nb)
    with tempfile.TemporaryDirectory(prefix="superpos-grade-") as workdir, \
            tempfile.TemporaryDirectory(prefix="superpos-grade-kernel-") as private:
        log = Path(private) / "grade_log.jsonl"
        env = {**os.environ, GRADE_LOG_ENV: str(log), "MPLBACKEND": "Agg"}
        deadline = time.monotonic() + timeout
        client = NotebookClient(
            nb,
            km=_kernel_manager(Path(private)),
            kernel_name=_KERNEL_NAME,
            allow_errors=True,
            timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
            resources={"metadata": {"path": workdir}},
        )
        status, reason = "ok", ""
        kernel_log = Path(private) / "kernel.log"
        try:
            with open(kernel_log, "wb") as output:  # the kernel's own messages, kept out of the report
                client.execute(env=env, cwd=workdir, stdout=output, stderr=output)
        except (CellTimeoutError, TimeoutError):
            status, reason = "timeout", f"still running after the time limit of {timeout:g} s"
        except DeadKernelError as error:
            last = [line for line in kernel_log.read_text(errors="replace").splitlines()
                    if line.strip() and "without encryption" not in line][-1:]
            status, reason = "crashed", f"the kernel died ({str(error).strip() or 'no message'}" + (
                f"; its last words: {last[0].strip()[:150]}" if last else "") + ")"
        except Exception as error:  # noqa: BLE001: any other failure to run is the submission's
            status, reason = "crashed", f"{type(error).__name__}: {str(error).strip()[:200]}"
        if status == "ok":
            first = _first_error(nb)
            if first:
                status, reason = "error", first
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    missing = reason or "its check cell was removed or never reached"
    return NotebookGrade(path, student, status, reason, _verdicts(expected, lines, missing))


def _positive_timeout(timeout) -> float:
    if isinstance(timeout, (bool, str, bytes)):
        raise ValueError(f"timeout must be a number of seconds, got {timeout!r}")
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(f"timeout must be a number of seconds, got {timeout!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return value


def grade(paths: Sequence[Path | str], *, timeout: float = DEFAULT_TIMEOUT, jobs: int = 1,
          progress=print) -> list[NotebookGrade]:
    """Grade every notebook in ``paths`` (see :func:`grade_notebook`), ``jobs`` at a time, each in its
    own kernel; the results come back in the order of ``paths``.

    ``progress`` is called with one line per notebook as it finishes (``None`` for silence).
    """
    from concurrent.futures import ThreadPoolExecutor

    if isinstance(paths, (str, Path)) or not all(isinstance(p, (str, Path)) for p in paths):
        raise ValueError("paths must be a list of notebook paths")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a function of one line (e.g. print) or None, got {type(progress).__name__}")
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths must name at least one notebook")
    timeout = _positive_timeout(timeout)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int (notebooks run at once), got {jobs!r}")

    def one(item):
        path, student = item
        started = time.monotonic()
        result = grade_notebook(path, timeout=timeout, student=student)
        if progress is not None:
            progress(f"graded {path} ({student}): {result.passed}/{len(result.verdicts)} passed, "
                     f"{result.status} [{time.monotonic() - started:.0f} s]")
        return result

    items = list(zip(paths, _student_names(paths)))
    if jobs == 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, items))


def write_csv(grades: Sequence[NotebookGrade], csv_path: Path | str) -> None:
    """One row per (notebook, exercise); a notebook without any exercise verdict gets one row with
    an empty exercise, so that every submission appears. ``grades``: a list of :class:`NotebookGrade`
    (from :func:`grade`); ``csv_path``: the file to write (a path or a non-empty string)."""
    grades = _check_grades(grades)
    if isinstance(csv_path, str) and csv_path.strip():
        csv_path = Path(csv_path)
    if not isinstance(csv_path, Path):
        raise ValueError(f"csv_path must be a file path (str or Path), got {csv_path!r}")
    if csv_path.is_dir():
        raise ValueError(f"csv_path must be a file, got the folder {str(csv_path)!r}")
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for g in grades:
            status = g.status if not g.reason else f"{g.status}: {g.reason}"
            if not g.verdicts:
                writer.writerow([g.student, str(g.path), "", "failed", g.reason or "no exercise found", status])
            for v in g.verdicts:
                writer.writerow([g.student, str(g.path), v.exercise, "passed" if v.passed else "failed",
                                 v.message, status])


def _check_grades(grades) -> list[NotebookGrade]:
    if isinstance(grades, (str, bytes, NotebookGrade)) or not isinstance(grades, Iterable):
        raise ValueError(f"grades must be a list of NotebookGrade (from grade), got {type(grades).__name__}")
    grades = list(grades)
    for i, g in enumerate(grades):
        if not isinstance(g, NotebookGrade):
            raise ValueError(f"grades[{i}] must be a NotebookGrade (from grade), got {type(g).__name__}")
    return grades


def _shorten(text: str, width: int) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= width else text[: width - 3] + "..."


def summary(grades: Sequence[NotebookGrade]) -> str:
    """A table per student: one line per notebook (passed/total and status), then each exercise
    that did not pass with the start of its message. ``grades``: a list of :class:`NotebookGrade`."""
    grades = _check_grades(grades)
    by_student: dict[str, list[NotebookGrade]] = {}
    for g in grades:
        by_student.setdefault(g.student, []).append(g)
    blocks = []
    for student, items in by_student.items():
        done = sum(g.passed for g in items)
        total = sum(len(g.verdicts) for g in items)
        width = max(len("notebook"), *(len(g.path.name) for g in items))
        lines = [f"{student}: {done}/{total} exercises passed",
                 f"  {'notebook':<{width}}  passed  status"]
        for g in items:
            status = g.status if not g.reason else f"{g.status}: {_shorten(g.reason, 70)}"
            lines.append(f"  {g.path.name:<{width}}  {f'{g.passed}/{len(g.verdicts)}':>6}  {status}")
            for v in g.verdicts:
                if not v.passed:
                    lines.append(f"  {'':<{width}}    not yet: {v.exercise}: {_shorten(v.message, 80)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
