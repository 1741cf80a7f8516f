"""Versioned, restricted serialisation of detector state.

River models are pickled, but only classes from ``river`` (and a few builtins) may be loaded back:
an unrestricted unpickler would execute arbitrary code from a tampered state topic. River pickles
do not survive River upgrades, so the River version is stored and checked.
"""

from __future__ import annotations

import base64
import io
import pickle
from typing import Any

import river

FORMAT_VERSION = 1
_ALLOWED_BUILTINS = frozenset(
    {"dict", "list", "tuple", "set", "frozenset", "float", "int", "str", "bool", "complex", "bytes"}
)


class StateError(ValueError):
    """Saved state cannot be restored (other River version, corrupt, or not allowed)."""


class _RiverOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "river" or module.startswith("river."):
            return super().find_class(module, name)
        if module in ("builtins", "collections") and (
            name in _ALLOWED_BUILTINS or name in ("deque", "OrderedDict", "defaultdict")
        ):
            return super().find_class(module, name)
        raise StateError(f"state refers to {module}.{name}, which is not allowed")


def dump_river(model: object) -> dict[str, Any]:
    """Serialise a River object into a JSON-friendly envelope.

    >>> from river import stats
    >>> m = stats.Mean(); m.update(3.0)
    >>> load_river(dump_river(m)).get()
    3.0
    """
    return {
        "format": FORMAT_VERSION,
        "river": river.__version__,
        "pickle_b64": base64.b64encode(pickle.dumps(model, protocol=5)).decode("ascii"),
    }


def load_river(envelope: dict[str, Any]) -> Any:
    if envelope.get("format") != FORMAT_VERSION:
        raise StateError(f"unknown state format {envelope.get('format')!r}")
    if envelope.get("river") != river.__version__:
        raise StateError(
            f"state saved with river {envelope.get('river')}, running {river.__version__}"
        )
    try:
        data = base64.b64decode(envelope["pickle_b64"])
        return _RiverOnlyUnpickler(io.BytesIO(data)).load()
    except StateError:
        raise
    except Exception as exc:
        raise StateError(f"corrupt detector state: {exc}") from None
