"""``python -m wearmon``: the ``wearmon`` command."""

from wearmon.stream.cli import run

run()
