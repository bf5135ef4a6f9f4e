"""Fetch the JavaScript the book's pages need, so the built book works with no network.

MathJax (typesets the formulas), require.js and the Jupyter widget manager (make the static sliders
move) are pinned npm packages. Each is fetched with ``npm pack``, its tarball checked against the
sha512 written below (the npm registry's ``integrity`` value) and unpacked under ``OUT/_vendor/``.
``_config.yml`` lists ``OUT`` in ``html_extra_path``, so the files land in ``_build/html/_vendor/``
and every page loads them from there (``mathjax_path`` and ``nb_ipywidgets_js`` point at them).

    python tools/vendor_js.py _build/vendor_js     # what `make book` runs

A package already unpacked with the same checksum is not fetched again.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# name, version, sha512 of the npm tarball, the files of the package the book serves (glob patterns)
PACKAGES = [
    ("mathjax", "3.2.2",
     "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
     ["LICENSE", "package.json", "es5/**/*"]),
    ("requirejs", "2.3.4",
     "sha512-qPD5gRrj6kGQ0ZySAJgqbArkaDqPMbQIT0zSZDkIv1mfA17w/tR2Faq5l2qqRf2CdQx6FWln9nUrgd2UDzb19A==",
     ["package.json", "require.js"]),
    ("@jupyter-widgets/html-manager", "1.0.6",
     "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
     ["LICENSE", "package.json", "dist/*.js", "dist/*.txt", "dist/*.woff*", "dist/*.ttf", "dist/*.eot",
      "dist/*.svg"]),
]


def folder_name(name: str, version: str) -> str:
    """``@jupyter-widgets/html-manager``, ``1.0.6`` -> ``html-manager-1.0.6`` (the folder under ``_vendor/``)."""
    return f"{name.rsplit('/', 1)[-1]}-{version}"


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(name: str, version: str, integrity: str, patterns: list[str], out: Path) -> Path:
    """Unpack the checked package's served files into ``out/_vendor/<folder>``; return that folder."""
    target = out / "_vendor" / folder_name(name, version)
    stamp = target / ".integrity"
    if stamp.is_file() and stamp.read_text().strip() == integrity:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True,
                                capture_output=True, text=True)
        tarball = Path(tmp) / result.stdout.strip().splitlines()[-1]
        got = sri_sha512(tarball.read_bytes())
        if got != integrity:
            raise SystemExit(f"{name}@{version}: checksum mismatch, expected {integrity}, got {got}; not using it")
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        package = Path(tmp) / "package"
        if target.exists():
            shutil.rmtree(target)
        for pattern in patterns:
            for path in package.glob(pattern):
                if path.is_file():
                    dest = target / path.relative_to(package)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dest)
    stamp.write_text(integrity + "\n")
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    for name, version, integrity, patterns in PACKAGES:
        print(f"{name}@{version}: {fetch(name, version, integrity, patterns, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
