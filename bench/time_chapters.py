"""Execute each chapter from scratch and print its wall time, against the time bar of its issue.

    python bench/time_chapters.py                 # every chapter, cold activation cache
    python bench/time_chapters.py 01 07 --warm    # chosen chapters, reusing the cache of a first run
    python bench/time_chapters.py 08 --save /tmp/timed   # also keep the executed copies

Run it on an otherwise idle machine: the bars are for a 2-core CPU running one chapter at a time.
Notebooks are executed in a temporary copy; the committed ones are not modified.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BARS_S = {"00": 60, "01": 120, "02": 120, "03": 120, "04": 120, "05": 120, "06": 180, "07": 180, "08": 240}


def run(path: Path, workdir: Path, save: Path | None = None) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save is not None:  # the executed copy, e.g. to read a chapter's own table of step timings
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter numbers, e.g. 01 07 (default: all)")
    parser.add_argument("--warm", action="store_true", help="keep the activation cache between runs (default: cold)")
    parser.add_argument("--save", type=Path, help="write each executed notebook to this folder")
    args = parser.parse_args()
    paths = sorted((ROOT / "chapters").glob("*.ipynb"))
    if args.chapters:
        paths = [p for p in paths if p.name[:2] in args.chapters]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "chapters"
        workdir.mkdir()
        cache = ROOT / ".superpos_cache" / "bench" if args.warm else Path(tmp) / "cache"
        os.environ["SUPERPOS_CACHE"] = str(cache)
        print(f"{'chapter':32s} {'seconds':>8s} {'bar':>6s}  ratio to bar")
        for path in paths:
            if not args.warm:
                shutil.rmtree(cache, ignore_errors=True)
            seconds = run(path, workdir, args.save)
            bar = BARS_S.get(path.name[:2])
            ratio = f"{seconds / bar:.2f}" if bar else "-"
            print(f"{path.stem:32s} {seconds:8.1f} {bar or '-':>6}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
