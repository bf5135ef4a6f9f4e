"""Student-facing text speaks to students: no chapter, student notebook or checker message mentions how
the course was made ("the issue", "the bar", "ERRATA", "feasibility run", "the course outline").
Markdown, code and printed outputs are all read by students, so all three are searched."""

import re
from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT

PHRASES = re.compile(
    r"\bthe issue\b|\bmeets the bar\b|\bthe bar\b(?![ -]?(?:chart|plot|graph|height|width|s\b))|\berrata\b"
    r"|\bfeasibility run|\bthe course outline\b",
    re.IGNORECASE,
)
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
# Chapters whose text still had such phrases when this test was written (their engineers are rewriting
# them): expected to fail until fixed, without turning CI red. Remove an entry once its chapter is clean.
KNOWN: dict[str, str] = {}


def _texts(nb):
    """(where, text) for every cell's source and every text output."""
    for index, cell in enumerate(nb.cells):
        yield f"cell {index} ({cell.cell_type})", cell.source
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            yield f"cell {index} (output)", "".join(text) if isinstance(text, list) else text


def hits(texts):
    found = []
    for where, text in texts:
        for match in PHRASES.finditer(text):
            context = text[max(0, match.start() - 40) : match.end() + 40].replace("\n", " ")
            found.append(f"{where}: {match.group(0)!r} in '...{context}...'")
    return found


def test_the_phrase_list_catches_each_phrase_and_spares_ordinary_words():
    for text in ("The issue asks", "it clears the bar", "TopK meets the bar", "see ERRATA.md",
                 "a feasibility run found", "The course outline writes"):
        assert hits([("t", text)]), text
    for text in ("the bar chart shows", "the bars are", "an issue of scale", "the barrier"):
        assert not hits([("t", text)]), text


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=False, reason=f"chapter text not yet rewritten: {KNOWN[p.name]}"))
    if p.name in KNOWN else p for p in NOTEBOOKS], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_speaks_to_students(path):
    found = hits(_texts(nbformat.read(path, as_version=4)))
    assert not found, f"{path.relative_to(ROOT)} talks about how the course was made:\n" + "\n".join(found)


def test_checker_and_builder_messages_speak_to_students():
    sources = sorted((ROOT / "superpos_lib" / "checks").glob("*.py")) + sorted(
        (ROOT / "superpos_lib" / "exercises").glob("*.py"))
    found = [f"{p.name}: {h}" for p in sources for h in hits([(p.name, Path(p).read_text())])]
    assert not found, "\n".join(found)


BOOK_PAGES = ["intro.md", "how_to_use.md", "teaching.md", "glossary.md", "chapter_table.md", "bibliography.md"]


@pytest.mark.parametrize("name", BOOK_PAGES)
def test_book_pages_speak_to_readers(name):
    """The book's own pages (listed in _toc.yml) are read by students and teachers too."""
    path = ROOT / name
    found = hits([(name, path.read_text(encoding="utf-8"))])
    assert not found, f"{name} talks about how the course was made:\n" + "\n".join(found)


def test_every_book_page_of_the_toc_is_searched():
    import yaml

    from .test_book import _toc_files

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = {f"{entry}.md" for entry in [toc["root"], *_toc_files(toc)] if not entry.startswith("chapters/")}
    assert pages <= set(BOOK_PAGES), f"add {sorted(pages - set(BOOK_PAGES))} to BOOK_PAGES"
