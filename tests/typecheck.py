"""`make lint`'s mypy run over the package as installed (`wearmon.stream`, `wearmon.models`).

The source folders are mapped into ``wearmon`` by the build backend (``package-dir`` in
pyproject.toml); mypy does not follow that mapping (nor the editable install's import hook), so this
mirrors the sources into ``.mypy-tree/wearmon/`` (copies that keep their times, so mypy's cache
still works), runs mypy there with the project's configuration and reports the source paths.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mypy import api

REPO = Path(__file__).resolve().parents[1]
TREE = REPO / ".mypy-tree"
SOURCES = {"wearmon": REPO / "wearmon", "wearmon/stream": REPO / "stream",
           "wearmon/models": REPO / "models"}


def mirror() -> None:
    wanted: set[Path] = set()
    for target, source in SOURCES.items():
        for file in source.rglob("*.py"):
            relative = file.relative_to(source)
            if target == "wearmon" and len(relative.parts) > 1:
                continue
            copy = TREE / target / relative
            wanted.add(copy)
            if not copy.exists() or copy.stat().st_mtime != file.stat().st_mtime:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, copy)
    for stale in TREE.rglob("*.py"):
        if stale not in wanted:
            stale.unlink()


def main() -> int:
    mirror()
    os.chdir(TREE)  # the mirror's ``wearmon``, not the repository's own folder of that name
    out, err, status = api.run(["--config-file", str(REPO / "pyproject.toml"),
                                "--cache-dir", str(REPO / ".mypy_cache"), "-p", "wearmon"])
    for target, source in sorted(SOURCES.items(), key=lambda kv: -len(kv[0])):
        out = out.replace(f"{target}/", f"{source.relative_to(REPO)}/")
    sys.stdout.write(out)
    sys.stderr.write(err)
    return status


if __name__ == "__main__":
    sys.exit(main())
