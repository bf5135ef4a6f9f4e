"""Local copies of the JavaScript the book loads from a CDN, for the offline browser test.

The npm registry is reachable from CI (the CDN is not), and the CDN in the book's pages
(cdn.jsdelivr.net/npm/...) mirrors npm packages byte for byte, so serving the packed files
keeps the pages' subresource-integrity hashes valid.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

PACKAGES = {
    "requirejs": "2.3.4",
    "@jupyter-widgets/html-manager": "1.0.6",
    "mathjax": "3.2.2",
}
ASSETS = Path(__file__).resolve().parent / ".browser_assets"


def package_dir(name: str) -> Path:
    return ASSETS / name.replace("/", "__").lstrip("@")


def fetch_assets() -> None:
    """``npm pack`` each package (once) and unpack it under ``tests/.browser_assets``."""
    ASSETS.mkdir(exist_ok=True)
    for name, version in PACKAGES.items():
        target = package_dir(name)
        if (target / "package.json").exists():
            continue
        out = subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=ASSETS, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(ASSETS / out) as tar:
            tar.extractall(ASSETS, filter="data")
        (ASSETS / "package").rename(target)
        (ASSETS / out).unlink()


def local_file(url: str) -> Path | None:
    """Map ``https://cdn.jsdelivr.net/npm/<name>@<version>/<path>`` to the unpacked file, if we have it."""
    prefix = "https://cdn.jsdelivr.net/npm/"
    if not url.startswith(prefix):
        return None
    spec = url[len(prefix):].split("?")[0]
    parts = spec.split("/")
    scoped = spec.startswith("@")
    name_version = "/".join(parts[:2]) if scoped else parts[0]
    rest = parts[2:] if scoped else parts[1:]
    name = name_version.rsplit("@", 1)[0] if "@" in name_version.lstrip("@") else name_version
    if name not in PACKAGES:
        return None
    path = package_dir(name).joinpath(*rest)
    return path if path.is_file() else None


if __name__ == "__main__":
    fetch_assets()
