"""Where the real datasets are, and what a test does when they are missing.

Outside CI a test that needs them skips with a clear message; in CI (``CI`` set) or when
``WEARMON_DATA_DIR`` names a folder explicitly, a missing folder is a failure, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_DIR = Path(
    os.environ.get("WEARMON_DATA_DIR", Path(__file__).resolve().parents[2] / "../shared/data")
)


def require(path: Path = DATA_DIR) -> Path:
    """``path`` if it exists; else fail (CI, or an explicit ``WEARMON_DATA_DIR``) or skip."""
    if path.exists():
        return path
    message = f"real datasets not found at {path}: set WEARMON_DATA_DIR"
    if os.environ.get("CI") or os.environ.get("WEARMON_DATA_DIR"):
        pytest.fail(f"{message} (required here: CI or WEARMON_DATA_DIR is set)")
    pytest.skip(message)
