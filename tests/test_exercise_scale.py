"""Every exercise statement in the chapters uses the book's one scale (defined in CONTRIBUTING.md and
teaching.md): numbered "Exercise N.k" after its chapter (N as in the file name: 01_... is 1, 01b_... is 1b), then the label line

    *Difficulty* ●●○○○ · *Importance* ●●●○○ · *About 10 minutes.*

with difficulty and importance from 1 to 5 dots (filled first) and minutes one of MINUTES. Each failure
lists exactly which exercises do not follow the scale and why."""

import re

import nbformat
import pytest

from .conftest import ROOT

LABEL = re.compile(r"\*Difficulty\* (?P<difficulty>[●○]+) · \*Importance\* (?P<importance>[●○]+) · "
                   r"\*About (?P<minutes>\d+) minutes\.\*")
TITLE = re.compile(r"Exercise (\d+[a-z]?)\.(\d+)\b")
ANY_EXERCISE = re.compile(r"\bExercise\b[^\n]*")
MINUTES = {5, 10, 15, 20, 25, 30, 45, 60, 90}
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# Chapters whose labels used another notation when this test was written (their engineers are rewriting
# them): expected to fail until they follow the scale, without turning CI red. Remove an entry once fixed.
KNOWN: dict[str, str] = {}


def _dots(value: str) -> int | None:
    """Number of filled dots if ``value`` is 5 dots, filled first, at least one filled; else None."""
    match = re.fullmatch(r"(●+)(○*)", value)
    return len(match.group(1)) if match and len(value) == 5 else None


def label_problems(text: str) -> list[str]:
    """What is wrong with one exercise statement's label (empty if it follows the scale)."""
    match = LABEL.search(text)
    if match is None:
        return ["no label line '*Difficulty* ●●○○○ · *Importance* ●●●○○ · *About 10 minutes.*'"]
    problems = []
    for part in ("difficulty", "importance"):
        if _dots(match.group(part)) is None:
            problems.append(f"{part} {match.group(part)!r} is not 1-5 of 5 dots, filled first")
    if int(match.group("minutes")) not in MINUTES:
        problems.append(f"{match.group('minutes')} minutes is not one of {sorted(MINUTES)}")
    return problems


def statements(nb):
    """(cell index, title line, text) of every markdown exercise statement: the markdown cell nearest
    before each ``solution`` cell, and every markdown cell whose text names an 'Exercise N.k'."""
    found = {}
    last = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and ANY_EXERCISE.search(cell.source):
            last = index
            if TITLE.search(cell.source):
                found[index] = cell.source
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            if last is None:
                found[index] = ""  # a solution without a statement before it
            else:
                found[last] = nb.cells[last].source
    return sorted(found.items())


def scale_problems(path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    chapter = path.name.split("_")[0].lstrip("0") or "0"  # "01" -> "1", "01b" -> "1b"
    problems, numbers = [], []
    for index, text in statements(nb):
        titles = TITLE.findall(text)
        title = (ANY_EXERCISE.search(text) or re.search(r".*", text)).group(0).strip()[:80] or f"cell {index}"
        if not titles:
            problems.append(f"cell {index} ({title}): not numbered 'Exercise {chapter}.k'")
        elif titles[0][0] != chapter:
            problems.append(f"cell {index} ({title}): numbered {titles[0][0]}.{titles[0][1]} in chapter {chapter}")
        else:
            numbers.append(int(titles[0][1]))
        problems += [f"cell {index} ({title}): {p}" for p in label_problems(text)]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"exercises are numbered {numbers}, expected 1 to {len(numbers)} in order")
    return problems


def test_the_scale_rules():
    assert label_problems("*Difficulty* ●●○○○ · *Importance* ●●●○○ · *About 10 minutes.*") == []
    assert label_problems("*Difficulty: 1/3 · Importance: 3/3 · About 10 minutes.*")
    assert label_problems("*Difficulty* ○●○○○ · *Importance* ●●●○○ · *About 10 minutes.*")
    assert label_problems("*Difficulty* ●●○ · *Importance* ●●●○○ · *About 10 minutes.*")
    assert label_problems("*Difficulty* ●●○○○ · *Importance* ●●●○○ · *About 7 minutes.*")


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=False, reason=f"exercise labels not yet on the scale: {KNOWN[p.name]}"))
    if p.name in KNOWN else p for p in CHAPTERS], ids=lambda p: p.name)
def test_every_exercise_follows_the_scale(path):
    problems = scale_problems(path)
    assert not problems, f"{path.name}: exercises off the book's scale:\n" + "\n".join(problems)


HINT = re.compile(r"\{dropdown\} Hint \d")


def hint_counts(nb) -> dict[str, int]:
    """Exercise number -> how many collapsed hints come between its statement and its solution cell."""
    counts, current = {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title = TITLE.search(cell.source)
            if title and "*Difficulty*" in cell.source:
                current = f"{title.group(1)}.{title.group(2)}"
                counts[current] = 0
            if current:
                counts[current] += len(HINT.findall(cell.source))
        elif "solution" in cell.metadata.get("tags", []):
            current = None
    return counts


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_exercise_has_one_to_three_hints(path):
    counts = hint_counts(nbformat.read(path, as_version=4))
    assert counts, f"{path.name}: no exercises found"
    off = {number: n for number, n in counts.items() if not 1 <= n <= 3}
    assert not off, f"{path.name}: exercises need 1 to 3 collapsed hints, these have {off}"
