"""Check that pyproject.toml's lower bounds hold: the unit tests on the OLDEST versions it allows.

Colab's preinstalled packages lag behind requirements.txt, and ``pip install superpos_lib`` keeps
whatever satisfies pyproject.toml. So one virtual environment gets, for each of numpy, scipy,
matplotlib, tqdm and ipywidgets, exactly the lower bound that pyproject.toml states, next to the
pinned torch (requirements.txt) and the test tools, and runs the unit tests (not the browser test,
not the Colab simulation, no notebook runs)::

    python tools/install_bounds.py            # what `make bounds` runs (part of `make test`)
    python tools/install_bounds.py -k sae     # extra arguments go to pytest

It fails when pip resolves a different version than the bound (a dependency needs newer) or a
test fails: then raise the bound in pyproject.toml.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "_build" / "venv-bounds"
AT_LOWER_BOUND = ["numpy", "scipy", "matplotlib", "tqdm", "ipywidgets"]
PINNED = ["torch"]  # at requirements.txt's version, as the book runs it
# what tests/ needs besides the library (nbclient and ipykernel: the grader's tests run notebooks)
TEST_TOOLS = ["pytest", "nbformat", "pyyaml", "pillow", "scikit-learn", "nbclient", "ipykernel"]


def lower_bounds() -> dict[str, str]:
    """``{"numpy": "1.24", ...}`` from pyproject.toml's ``project.dependencies`` (``name>=version``)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {}
    for dep in deps:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)\s*", dep)
        if match:
            bounds[match.group(1).lower()] = match.group(2)
    return bounds


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def main(pytest_args: list[str]) -> int:
    bounds, pinned = lower_bounds(), pins()
    missing = [name for name in AT_LOWER_BOUND if name not in bounds]
    if missing:
        print(f"pyproject.toml states no lower bound (name>=version) for {missing}", file=sys.stderr)
        return 2
    wanted = {name: bounds[name] for name in AT_LOWER_BOUND}
    wanted.update({name: pinned[name] for name in PINNED + TEST_TOOLS})
    python = VENV / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    run([str(python), "-m", "pip", "install", "--quiet", *(f"{n}=={v}" for n, v in wanted.items())])

    from_pip = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, sys; "
                            "print('\\n'.join(f'{n}=={m.version(n)}' for n in sys.argv[1:]))", *AT_LOWER_BOUND],
        check=True, capture_output=True, text=True).stdout.split()
    print("oldest allowed, installed:", " ".join(from_pip), "| torch ==", pinned["torch"])
    for line in from_pip:
        name, version = line.split("==")
        if version.split("+")[0] != wanted[name] and not version.startswith(wanted[name] + ".0"):
            print(f"{name}: pip installed {version}, not the bound {wanted[name]}: raise the bound", file=sys.stderr)
            return 1

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    env.pop("VIRTUAL_ENV", None)
    run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not browser and not colab",
         *pytest_args, "tests"], cwd=ROOT, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
