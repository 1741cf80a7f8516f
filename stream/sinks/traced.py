"""Writes that trace a refusal to its source: groups of lines, one group per message.

When InfluxDB refuses points (``InfluxRejectedError``: 400/413/422), the groups are halved until
the refused ones are found; the rest is written. Points of a refused request that InfluxDB did
take (1.x writes the rest of a partial write) are written again: the same points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from wearmon.stream.sinks.influx import InfluxRejectedError

G = TypeVar("G")


class Writer(Protocol):
    async def write(self, lines: Iterable[str]) -> int: ...


async def write_traced(writer: Writer, groups: Sequence[tuple[G, list[str]]]
                       ) -> tuple[int, list[tuple[G, InfluxRejectedError]]]:
    """Write every group's lines; returns the points written and the refused groups.

    >>> import asyncio
    >>> class Refusing:
    ...     async def write(self, lines):
    ...         lines = list(lines)
    ...         if "bad" in lines:
    ...             raise InfluxRejectedError(400, "unparsable line")
    ...         return len(lines)
    >>> points, refused = asyncio.run(write_traced(Refusing(), [("a", ["x"]), ("b", ["bad"]),
    ...                                                          ("c", ["y", "z"])]))
    >>> points, [(group, error.kind) for group, error in refused]
    (3, [('b', 'unparsable line')])
    """
    lines = [line for _, group in groups for line in group]
    if not lines:
        return 0, []
    try:
        return await writer.write(lines), []
    except InfluxRejectedError as refused:
        if len(groups) == 1:
            return 0, [(groups[0][0], refused)]
        middle = len(groups) // 2
        first = await write_traced(writer, groups[:middle])
        second = await write_traced(writer, groups[middle:])
        return first[0] + second[0], first[1] + second[1]
