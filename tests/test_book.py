"""The book's structure: one source for the repository URL, the chapter arc, figures, the toc."""

import base64
import io
import re

import nbformat
import pytest
import yaml
from PIL import Image

from tests.conftest import ROOT

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
GITHUB_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")


def _notebooks():
    return CHAPTERS + sorted((ROOT / "exercises").glob("*.ipynb"))


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_config_names_the_book():
    assert CONFIG["title"] and CONFIG["author"] and str(CONFIG["copyright"])
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    # advertise nothing that cannot work: no Binder button without a Binder environment in the repository
    binder_env = any((ROOT / "binder" / name).exists() for name in ("requirements.txt", "environment.yml"))
    assert bool(CONFIG["launch_buttons"].get("binderhub_url")) == binder_env


@pytest.mark.parametrize("path", ["README.md", "pyproject.toml", ".github/workflows/book.yml"])
def test_repository_url_has_one_source(path):
    found = set(GITHUB_URL.findall((ROOT / path).read_text()))
    assert found <= {REPO_URL}, f"{path} names {found - {REPO_URL}}; _config.yml says {REPO_URL}"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "setup" in setup.metadata.get("tags", []), "the first code cell must be the setup cell"
    assert "hide-cell" in setup.metadata.get("tags", [])
    assert "setup_notebook(" in setup.source
    urls = set(GITHUB_URL.findall(setup.source))
    assert urls == {REPO_URL}, f"setup cell installs from {urls}, _config.yml says {REPO_URL}"
    for cell in nb.cells:
        assert set(GITHUB_URL.findall(cell.source)) <= {REPO_URL}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_arc(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ["Learning objectives", "Prerequisites", "Estimated time", "Summary", "Further reading"]:
        assert heading in text, f"{path.name} lacks '{heading}'"
    assert "{cite" in text, f"{path.name} cites nothing from references.bib"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_text_has_no_control_characters(path):
    """A backslash lost in an edit turns LaTeX into control characters: ``\\tfrac`` into a tab and
    ``frac``, ``\\approx`` into a bell and ``pprox``. The page then shows broken maths."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        bad = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]|\t[A-Za-z]", cell.source)
        assert bad is None, f"{path.name} cell {i}: control character near {cell.source[max(0, bad.start() - 20):bad.end() + 10]!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_outputs_are_executed_png_and_opaque(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "commit the chapter executed"
    for cell in code:
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name} has an error output"
            data = output.get("data", {})
            assert "image/svg+xml" not in data, "figures must be PNG (SVG embeds a date)"
            if "image/png" in data:
                image = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
                if image.mode in ("RGBA", "LA"):
                    assert image.getextrema()[-1][0] == 255, f"{path.name}: a figure has a transparent background"


# These show a progress bar or conversion messages only when their result is not in the cache, so a
# cell that nbval compares would pass or fail depending on the machine's cache.
CACHE_DEPENDENT_OUTPUT = re.compile(r"\b(load_minilm|load_smollm|collect_activations|train_sae_cached|spliced_losses)\(")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_compared_cells_print_the_same_with_a_cold_or_warm_cache(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "nbval-check-output" not in cell.metadata.get("tags", []):
            continue
        for match in CACHE_DEPENDENT_OUTPUT.finditer(cell.source):
            call = cell.source[match.start():]
            depth, end = 0, 0
            for end, char in enumerate(call):
                depth += {"(": 1, ")": -1}.get(char, 0)
                if depth == 0 and char == ")":
                    break
            assert "progress=False" in call[:end], (
                f"{path.name}: {match.group(1)} in a cell tagged nbval-check-output; move it to a cell of its own "
                "or pass progress=False")


def test_toc_lists_existing_pages_and_every_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"], *_toc_files(toc.get("parts", []))]
    for name in files:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml lists missing {name}"
    listed = {f for f in files if f.startswith("chapters/")}
    assert listed == {f"chapters/{p.stem}" for p in CHAPTERS}, "every chapter notebook and only those belong in _toc.yml"


def test_bibliography_keys_cited_exist():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    pages = [p for p in ROOT.glob("*.md") if p.name not in ("README.md", "CONTRIBUTING.md")]
    for path in [*CHAPTERS, *pages]:
        text = path.read_text()
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            cited.update(k.strip() for k in group.split(","))
    assert cited and cited <= keys, f"unknown keys: {cited - keys}"


def test_every_exercise_is_checked_in_a_chapter_and_its_reference_passes():
    from superpos_lib.checks import registered_exercises

    passed = set()
    for path in CHAPTERS:
        for cell in nbformat.read(path, as_version=4).cells:
            names = re.findall(r'\bcheck\(\s*"(\w+)"', cell.source) if cell.cell_type == "code" else []
            text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
            for name in names:
                if text.strip().startswith(f"[PASSED] {name}"):
                    # nbval re-runs this cell and compares its output, so a reference that breaks fails CI
                    assert "nbval-check-output" in cell.metadata.get("tags", []), f"{path.name}: tag the check of {name}"
                    passed.add(name)
    assert set(registered_exercises()) <= passed, f"no passing reference in any chapter: {set(registered_exercises()) - passed}"


def test_every_student_notebook_has_an_open_in_colab_link():
    owner_name = REPO_URL.removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    text = (ROOT / "how_to_use.md").read_text()
    linked = set(re.findall(
        rf"\(https://colab\.research\.google\.com/github/{re.escape(owner_name)}/blob/{re.escape(branch)}/"
        r"exercises/([\w.-]+\.ipynb)\)", text))
    students = {p.name for p in (ROOT / "exercises").glob("*.ipynb")}
    assert linked == students, f"how_to_use.md: add Colab links for {students - linked}, drop {linked - students}"
