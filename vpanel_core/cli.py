"""`vpanel`: headless operation and scripting against the operator's database.

Every command is one transaction; errors print one line to stderr and exit non-zero
(2 for bad input, 1 for anything else), `--json` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from sqlalchemy.orm import Session

from vpanel_core import backup, config, secretbox, settings, validation
from vpanel_core.db import transaction
from vpanel_core.entitlement import Entitlement
from vpanel_core.errors import DomainError, ValidationError
from vpanel_core.links import all_links
from vpanel_core.models import Node, Plan, User
from vpanel_core.runtime import open_database
from vpanel_core.services import ledger, nodes, plans, users
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.transport import HttpTransport
from vpanel_core.usage import refresh
from vpanel_core.usage.collect import State

Handler = Callable[[Session, argparse.Namespace], Any]


class PartlyFailed(Exception):
    """Some items of a multi-node command failed: print every result, exit 1."""

    def __init__(self, result: Any) -> None:
        super().__init__("partly failed")
        self.result = result


def user_view(session: Session, user: User, ent: Entitlement | None = None) -> dict[str, Any]:
    ent = ent or ledger.entitlement(session, user)
    view = user.public_dict()
    view.update(
        status=ent.status.value,
        expiry=ent.expiry.isoformat() if ent.expiry else None,
        allowance_bytes=ent.allowance,
        used_bytes=ent.used,
        remaining_bytes=ent.remaining,
    )
    return view


def plan_view(plan: Plan) -> dict[str, Any]:
    return {
        "id": str(plan.id),
        "name": plan.name,
        "price_minor": plan.price_minor,
        "currency": plan.currency,
        "duration_days": plan.duration_days,
        "traffic_bytes": plan.traffic_bytes,
        "reset_strategy": plan.reset_strategy,
        "node_groups": plan.node_groups,
        "visible": plan.visible,
    }


def node_view(node: Node) -> dict[str, Any]:
    return {
        "id": str(node.id),
        "name": node.name,
        "host": node.host,
        "ssh_port": node.ssh_port,
        "group": node.group,
        "country": node.country,
        "enabled": node.enabled,
        "inbounds": [i.tag for i in node.inbounds],
    }


def cmd_user_create(session: Session, args: argparse.Namespace) -> Any:
    spec = users.NewUser(
        username=args.username,
        email=args.email,
        password=args.password,
        days=args.days,
        traffic_bytes=validation.parse_size(args.traffic),
        reset_strategy=args.reset,
        node_groups=tuple(args.group or ()),
        notes=args.notes,
    )
    return user_view(session, users.create_user(session, spec))


def cmd_user_list(session: Session, args: argparse.Namespace) -> Any:
    found = users.list_users(session, search=args.search, limit=args.limit, offset=args.offset)
    ents = ledger.entitlements(session, found)
    return [user_view(session, u, ents[u.id]) for u in found]


def cmd_user_show(session: Session, args: argparse.Namespace) -> Any:
    return user_view(session, users.find_user(session, args.user))


def cmd_user_renew(session: Session, args: argparse.Namespace) -> Any:
    user = users.find_user(session, args.user)
    ledger.renew(
        session,
        user,
        days=validation.days(args.days),
        traffic_bytes=validation.parse_size(args.traffic),
    )
    return user_view(session, user)


def cmd_user_enable(session: Session, args: argparse.Namespace) -> Any:
    user = users.find_user(session, args.user)
    users.set_enabled(session, user, args.enabled)
    return user_view(session, user)


def cmd_user_reset_usage(session: Session, args: argparse.Namespace) -> Any:
    user = users.find_user(session, args.user)
    ledger.reset_usage(session, user)
    return user_view(session, user)


def cmd_user_delete(session: Session, args: argparse.Namespace) -> Any:
    user = users.find_user(session, args.user)
    if not args.yes:
        raise ValidationError(f"deleting {user.username!r} cannot be undone: add --yes")
    users.delete_user(session, user)
    return {"deleted": str(user.id)}


def cmd_user_links(session: Session, args: argparse.Namespace) -> Any:
    user = users.find_user(session, args.user)
    if args.regenerate:
        users.issue_subscription(session, user)
    sub = user.subscription or users.issue_subscription(session, user)
    return all_links(str(settings.get(session, "portal_url")), sub)


def parse_price(text: str) -> int:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"invalid price {text!r}: use e.g. 9.99") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(f"price must be non-negative with at most 2 decimals, got {text}")
    return int(amount * 100)


def cmd_plan_create(session: Session, args: argparse.Namespace) -> Any:
    spec = plans.NewPlan(
        name=args.name,
        price_minor=parse_price(args.price),
        currency=args.currency,
        duration_days=args.days,
        traffic_bytes=validation.parse_size(args.traffic),
        reset_strategy=args.reset,
        node_groups=tuple(args.group or ()),
        description=args.description,
        visible=not args.hidden,
    )
    return plan_view(plans.create_plan(session, spec))


def cmd_plan_list(session: Session, args: argparse.Namespace) -> Any:
    return [plan_view(p) for p in plans.list_plans(session)]


def cmd_node_add(session: Session, args: argparse.Namespace) -> Any:
    spec = nodes.NewNode(
        name=args.name,
        host=args.host,
        ssh_port=args.ssh_port,
        ssh_user=args.ssh_user,
        group=args.group,
        country=args.country,
    )
    return node_view(nodes.create_node(session, spec))


def cmd_node_list(session: Session, args: argparse.Namespace) -> Any:
    return [node_view(n) for n in nodes.list_nodes(session)]


def cmd_settings_set(session: Session, args: argparse.Namespace) -> Any:
    value: Any = args.value
    with contextlib.suppress(json.JSONDecodeError):
        value = json.loads(args.value)
    settings.put(session, args.key, value)
    return {args.key: value}


def cmd_settings_show(session: Session, args: argparse.Namespace) -> Any:
    return {key: settings.get(session, key) for key in settings.DEFAULTS}


def cmd_backup_create(session: Session, args: argparse.Namespace) -> Any:
    info = backup.take_backup(backup.sqlite_path(args.url), args.dir, keep=args.keep)
    return {"path": str(info.path), "bytes": info.size}


def cmd_backup_list(session: Session, args: argparse.Namespace) -> Any:
    found = backup.list_backups(args.dir) if args.dir.exists() else []
    return [
        {"path": str(b.path), "taken_at": b.taken_at.isoformat(), "bytes": b.size} for b in found
    ]


@contextlib.contextmanager
def _sync_client(args: argparse.Namespace) -> Iterator[SyncClient]:
    """The same identity the desktop app uses (its database and secret box); the HTTP
    connection is closed on the way out, so the portal is not left holding it."""
    transport = HttpTransport()
    try:
        yield SyncClient(args.database, secretbox.load(config.data_dir()), transport=transport)
    finally:
        transport.close()


def cmd_sync_pair(session: Session, args: argparse.Namespace) -> Any:
    with _sync_client(args) as client:
        key = client.pair(args.portal_url, args.code)
    return {"paired": True, "portal": args.portal_url.rstrip("/"), "portal_key": key}


def cmd_sync_now(session: Session, args: argparse.Namespace) -> Any:
    with _sync_client(args) as client:
        report = client.sync_once()
        pending = client.pending()
    return {
        "events_pulled": report.events_pulled,
        "users_adopted": report.users_adopted,
        "snapshot_pages": report.snapshot_pages,
        "changes_published": report.changes_published,
        "pending": pending,
    }


class NodeProgress:
    """Progress of a multi-node command on a terminal: one line redrawn in place, a bar
    of the nodes finished and the latest step. Silent when the stream is no terminal
    (scripts read the result, not the progress)."""

    WIDTH = 24

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.finished = 0
        self.stream = stream
        self.shown = stream.isatty()
        self._lock = threading.Lock()  # called from worker threads

    def __call__(self, name: str, state: State, message: str) -> None:
        with self._lock:
            if state is not State.RUNNING:
                self.finished += 1
            if not self.shown:
                return
            filled = self.WIDTH * self.finished // max(self.total, 1)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            line = f"[{bar}] {self.finished}/{self.total} {name}: {message}"
            self.stream.write(f"\r\x1b[K{line[: shutil.get_terminal_size().columns - 1]}")
            self.stream.flush()

    def close(self) -> None:
        if self.shown and self.finished:
            self.stream.write("\n")


def _collected_row(done: refresh.NodeCollected) -> dict[str, Any]:
    report = done.report
    row: dict[str, Any] = {
        "node": done.link.name,
        "ok": done.refreshed,
        "pages": report.pages,
        "applied": report.applied,
        "duplicates": report.duplicates,
        "applied_seq": report.applied_seq,
        "clock_skew_ms": report.clock_skew_ms,
    }
    if done.error is not None:
        row["error"] = done.error.message
    return row


def cmd_node_collect(session: Session, args: argparse.Namespace) -> Any:
    """Collect usage from every node (or the one named) in shared rounds, then push each
    node a fresh entitlements file."""
    box = secretbox.load(config.data_dir())
    with args.database.sessions() as reading:  # not held while nodes are collected
        links = refresh.node_links(reading, box, [args.name] if args.name else [])
    if args.name and not links:
        raise ValidationError(f"no enabled node named {args.name!r}")
    progress = NodeProgress(len(links), sys.stderr)
    try:
        done = refresh.collect_and_refresh(args.database.sessions, links, on_progress=progress)
    finally:
        progress.close()
    rows = [_collected_row(d) for d in done]
    if any(not row["ok"] for row in rows):
        raise PartlyFailed(rows)
    return rows


def cmd_db_upgrade(session: Session, args: argparse.Namespace) -> Any:
    return {"migrated": True}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="database URL (default: VPANEL_DATABASE_URL or local SQLite)",
    )
    parser = argparse.ArgumentParser(prog="vpanel", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", dest="json_first", action="store_true", help="print JSON")
    parser.add_argument("--db", dest="db_first", help="database URL")
    groups = parser.add_subparsers(dest="group", required=True)

    def add(group: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, help=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    db = groups.add_parser("db", help="database").add_subparsers(dest="cmd", required=True)
    add(db, "upgrade", cmd_db_upgrade, "apply migrations")

    backups = groups.add_parser("backup", help="backups of the local SQLite database")
    bsub = backups.add_subparsers(dest="cmd", required=True)
    bcreate = add(bsub, "create", cmd_backup_create, "take a consistent backup now")
    bcreate.add_argument("--keep", type=int, default=14, help="how many backups to keep")
    add(bsub, "list", cmd_backup_list, "list backups")

    user = groups.add_parser("user", help="users").add_subparsers(dest="cmd", required=True)
    create = add(user, "create", cmd_user_create, "create a user")
    create.add_argument("username")
    create.add_argument("--email")
    create.add_argument("--password")
    create.add_argument("--days", type=float, default=0)
    create.add_argument("--traffic", default="0", help="e.g. 50GB; 0 = none")
    create.add_argument("--reset", default="none", help="none/daily/weekly/monthly/yearly")
    create.add_argument("--group", action="append", help="node group (repeatable)")
    create.add_argument("--notes", default="")
    listing = add(user, "list", cmd_user_list, "list users")
    listing.add_argument("--search", default="")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)
    add(user, "show", cmd_user_show, "show one user").add_argument("user")
    renew = add(user, "renew", cmd_user_renew, "add days and/or traffic")
    renew.add_argument("user")
    renew.add_argument("--days", type=float, default=0)
    renew.add_argument("--traffic", default="0")
    disable = add(user, "disable", cmd_user_enable, "disable a user")
    disable.add_argument("user")
    disable.set_defaults(enabled=False)
    enable = add(user, "enable", cmd_user_enable, "enable a user")
    enable.add_argument("user")
    enable.set_defaults(enabled=True)
    add(user, "reset-usage", cmd_user_reset_usage, "start counting traffic afresh").add_argument(
        "user"
    )
    delete = add(user, "delete", cmd_user_delete, "delete a user and their subscription")
    delete.add_argument("user")
    delete.add_argument("--yes", action="store_true")
    links = add(user, "links", cmd_user_links, "show subscription links")
    links.add_argument("user")
    links.add_argument("--regenerate", action="store_true", help="revoke the old token first")

    plan = groups.add_parser("plan", help="plans").add_subparsers(dest="cmd", required=True)
    pcreate = add(plan, "create", cmd_plan_create, "create a plan")
    pcreate.add_argument("name")
    pcreate.add_argument("--price", required=True, help="e.g. 9.99")
    pcreate.add_argument("--currency", default="USD")
    pcreate.add_argument("--days", type=int, required=True)
    pcreate.add_argument("--traffic", default="0", help="per period; 0 = unlimited")
    pcreate.add_argument("--reset", default="none")
    pcreate.add_argument("--group", action="append")
    pcreate.add_argument("--description", default="")
    pcreate.add_argument("--hidden", action="store_true")
    add(plan, "list", cmd_plan_list, "list plans")

    node = groups.add_parser("node", help="nodes").add_subparsers(dest="cmd", required=True)
    nadd = add(node, "add", cmd_node_add, "add a node")
    nadd.add_argument("name")
    nadd.add_argument("--host", required=True)
    nadd.add_argument("--ssh-port", type=int, default=22)
    nadd.add_argument("--ssh-user", default="root")
    nadd.add_argument("--group", default="default")
    nadd.add_argument("--country", default="")
    add(node, "list", cmd_node_list, "list nodes")
    collect = add(node, "collect", cmd_node_collect, "collect usage, refresh entitlements")
    collect.add_argument("name", nargs="?", help="one node (default: every enabled node)")

    sync = groups.add_parser("sync", help="sync with the portal").add_subparsers(
        dest="cmd", required=True
    )
    pair = add(sync, "pair", cmd_sync_pair, "pair with a portal using its one-time code")
    pair.add_argument("portal_url")
    pair.add_argument("code")
    add(sync, "now", cmd_sync_now, "pull portal events, then publish changes")

    conf = groups.add_parser("settings", help="settings").add_subparsers(dest="cmd", required=True)
    add(conf, "show", cmd_settings_show, "show settings")
    cset = add(conf, "set", cmd_settings_set, "change a setting")
    cset.add_argument("key", choices=sorted(settings.DEFAULTS))
    cset.add_argument("value")
    return parser


def render(result: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(result, indent=2, ensure_ascii=False, default=str)
    rows = result if isinstance(result, list) else [result]
    lines = []
    for row in rows:
        if isinstance(row, dict):
            lines.append("  ".join(f"{k}={v}" for k, v in row.items() if not isinstance(v, dict)))
            lines.extend(f"  {k}: {v}" for k, v in row.items() if isinstance(v, dict))
        else:
            lines.append(str(row))
    return "\n".join(lines) if lines else "(none)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = getattr(args, "json", False) or args.json_first
    args.url = getattr(args, "db", None) or args.db_first or config.database_url()
    args.dir = config.data_dir() / "backups"
    try:
        database = args.database = open_database(args.url)
        with transaction(database.sessions) as session:
            result = args.handler(session, args)
    except PartlyFailed as failed:
        print(render(failed.result, as_json))
        return 1
    except DomainError as exc:
        print(f"vpanel: error: {exc.message}", file=sys.stderr)
        return 2 if exc.http_status < 500 else 1
    except Exception as exc:
        print(f"vpanel: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(render(result, as_json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
