"""Per-request options and the one shared selection step every format runs first.

Filtering, renaming and name de-duplication live here so that all formats agree on
which proxies a subscription contains and what they are called.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from vpanel_core.proxies import ClientProxy, Protocol

_VARIABLE = re.compile(r"\{(\w+)\}")
_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
UNLIMITED = "∞"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The subscriber facts some formats show (traffic left, expiry, profile title)."""

    upload: int = 0
    download: int = 0
    total: int | None = None  # bytes; None = unlimited
    expire: datetime | None = None  # None = never
    title: str = ""

    @property
    def bytes_left(self) -> int | None:
        if self.total is None:
            return None
        return max(self.total - self.upload - self.download, 0)


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """What to include and how to name it. Frozen and hashable: it is part of a cache key.

    `today` pins the date used for `{days_left}`; None means the current UTC date.
    `subscription_url` lets formats with self-updating profiles (Surge) point back at it.
    """

    protocols: frozenset[Protocol] | None = None
    include_ids: frozenset[str] | None = None
    exclude_ids: frozenset[str] = frozenset()
    rename: str = ""
    user: UserInfo | None = None
    today: date | None = None
    subscription_url: str = ""


@dataclass(frozen=True, slots=True)
class Selection:
    """The proxies a format will render, and those it had to leave out."""

    proxies: tuple[ClientProxy, ...]
    skipped: tuple[ClientProxy, ...]


def human_bytes(value: int) -> str:
    """1536 -> '1.5 KB' (binary multiples, as panels and clients show them)."""
    size = float(value)
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def template_variables(proxy: ClientProxy, options: FormatOptions) -> dict[str, str]:
    user = options.user or UserInfo()
    left = user.bytes_left
    today = options.today or datetime.now(UTC).date()
    days = UNLIMITED
    expire_date = UNLIMITED
    if user.expire is not None:
        expire_day = (
            user.expire.astimezone(UTC).date() if user.expire.tzinfo else user.expire.date()
        )
        days = str(max((expire_day - today).days, 0))
        expire_date = expire_day.isoformat()
    return {
        "name": proxy.name,
        "protocol": proxy.protocol.value,
        "country": proxy.country,
        "data_left": UNLIMITED if left is None else human_bytes(left),
        "days_left": days,
        "expire_date": expire_date,
    }


def render_name(template: str, variables: dict[str, str]) -> str:
    """Substitute `{var}`; unknown variables stay as typed (a regex, not str.format,
    so an operator template cannot reach attributes)."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), template)


def unique_names(names: Iterable[str], reserved: frozenset[str] = frozenset()) -> list[str]:
    """Append ' 2', ' 3'… so that no name repeats nor equals a reserved (group) name."""
    taken = set(reserved)
    result = []
    for name in names:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} {n}"
        taken.add(candidate)
        result.append(candidate)
    return result


def select(
    proxies: Sequence[ClientProxy],
    options: FormatOptions,
    supports: Callable[[ClientProxy], bool],
    clean_name: Callable[[str], str] = str,
    reserved: frozenset[str] = frozenset(),
) -> Selection:
    """Filter by the options and the format's abilities, then rename and de-duplicate."""
    wanted = [
        p
        for p in proxies
        if p.enabled
        and (options.protocols is None or p.protocol in options.protocols)
        and (options.include_ids is None or p.id in options.include_ids)
        and p.id not in options.exclude_ids
    ]
    kept = [p for p in wanted if supports(p)]
    skipped = tuple(p for p in wanted if not supports(p))
    raw = [
        clean_name(render_name(options.rename, template_variables(p, options)) or p.name)
        if options.rename
        else clean_name(p.name)
        for p in kept
    ]
    names = unique_names((n or p.protocol.value for n, p in zip(raw, kept, strict=True)), reserved)
    renamed = tuple(replace(p, name=n) for p, n in zip(kept, names, strict=True))
    return Selection(renamed, skipped)
