"""The journal record schema shared by node and desktop.

It is defined once, in the node's stdlib-only `vpanel_node.journal` (the node has no
vpanel_core), and re-exported here so desktop code never parses journal lines its own way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vpanel_node.journal import UsageLine

__all__ = ["JournalPage", "UsageLine", "parse_page"]


@dataclass(slots=True)
class JournalPage:
    """One `journal read` answer: the node's clock and counts, then committed records."""

    node_time_ms: int
    records: list[UsageLine] = field(default_factory=list)
    more: bool = False
    acked: int = 0  # the sequence the node holds as acknowledged (compacts up to)
    torn: int = 0  # lines the node saw torn (unfinished write), skipped
    corrupt: int = 0  # lines that did not parse, on the node or in transit, skipped


def parse_page(text: str) -> JournalPage:
    """Parse the node's answer; any line that does not parse is skipped and counted."""
    lines = text.split("\n")
    header = json.loads(lines[0])
    page = JournalPage(
        node_time_ms=int(header["node_time"]),
        more=bool(header.get("more")),
        acked=int(header.get("acked", 0)),
        torn=int(header.get("torn", 0)),
        corrupt=int(header.get("corrupt", 0)),
    )
    last = 0
    for raw in lines[1:]:
        if not raw:
            continue
        try:
            record = UsageLine.from_obj(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            page.corrupt += 1
            continue
        if record.seq <= last:  # a replayed or out-of-order line: never trust it twice
            page.corrupt += 1
            continue
        last = record.seq
        page.records.append(record)
    if int(header.get("count", len(page.records))) != len(page.records) + page.corrupt:
        page.corrupt += 1  # lines went missing in transit (cut-off output)
    return page
