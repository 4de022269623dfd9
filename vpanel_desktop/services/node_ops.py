"""Push, status and usage collection for nodes through the node layer
(`vpanel_core.nodes`, `vpanel_core.usage.auto`), off the GUI thread, cancellable
between nodes (collection: between rounds).

Configs are rendered in one short transaction on the caller's side
(`fleet.prepare_jobs`); worker threads only get plain data. SSH keys are stored
sealed (`enc:v1:` in `Node.ssh_key_ref`); they are opened here, in memory, only for
the jobs handed to the workers — the node layer itself never sees the sealed form.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vpanel_core.models import Node
from vpanel_core.nodes import fleet, status
from vpanel_core.nodes.push import PushJob, PushResult, Stage, push_one
from vpanel_core.secretbox import SecretBox, is_sealed
from vpanel_core.usage.auto import AutoCollector
from vpanel_core.usage.collect import State
from vpanel_desktop.workers import CANCELLED, FAILED, OK, RUNNING, ItemResult, Report

PARALLEL = 8
CONNECT_TIMEOUT = 10.0
T = TypeVar("T")
JOB_STATES = {
    State.RUNNING: RUNNING,
    State.OK: OK,
    State.FAILED: FAILED,
    State.CANCELLED: CANCELLED,
}


def _unsealed(box: SecretBox, key_ref: str) -> str:
    return box.open(key_ref) if is_sealed(key_ref) else key_ref


def _nodes(session: Session, node_ids: Sequence[object]) -> Sequence[Node]:
    query = select(Node).options(selectinload(Node.inbounds)).where(Node.id.in_(node_ids))
    return session.scalars(query.where(Node.enabled.is_(True)).order_by(Node.name)).all()


def push_jobs(session: Session, box: SecretBox, node_ids: Sequence[object]) -> list[PushJob]:
    """Rendered configs for the enabled nodes, with SSH keys opened for the workers."""
    jobs = fleet.prepare_jobs(session, _nodes(session, node_ids), CONNECT_TIMEOUT)
    return [
        replace(job, target=replace(job.target, key_ref=_unsealed(box, job.target.key_ref)))
        for job in jobs
    ]


def status_nodes(session: Session, box: SecretBox, node_ids: Sequence[object]) -> list[Node]:
    """Detached copies of the nodes for `status.node_status` in worker threads."""
    copies = []
    for node in _nodes(session, node_ids):
        copy = Node(
            id=node.id,
            name=node.name,
            host=node.host,
            ssh_port=node.ssh_port,
            ssh_user=node.ssh_user,
            ssh_key_ref=_unsealed(box, node.ssh_key_ref),
            host_key=node.host_key,
            remote_dir=node.remote_dir,
            config_version=node.config_version,
            last_push_at=node.last_push_at,
            last_push_result=node.last_push_result,
        )
        copies.append(copy)
    return copies


def push_message(result: PushResult) -> str:
    if result.ok:
        return f"{result.outcome.value} (config {result.version[:12]}, {result.seconds:.1f}s)"
    return f"{result.stage.value}: {result.error}"


def describe_last_push(recorded: str) -> str:
    """The node layer's JSON summary as one readable line for the nodes table."""
    try:
        summary = json.loads(recorded) if recorded else {}
    except ValueError:
        return recorded
    if not isinstance(summary, dict) or not summary:
        return ""
    outcome, stage = summary.get("outcome", ""), summary.get("stage", "")
    if outcome == "failed":
        return f"failed at {stage}: {summary.get('error', '')}"
    return f"{outcome} (config {str(summary.get('version', ''))[:12]})"


def status_message(found: status.NodeStatus) -> tuple[bool, str]:
    if not found.reachable:
        return False, found.error
    state = "healthy" if found.healthy else "unhealthy"
    sync = "config in sync" if found.config_in_sync else "config differs from last push"
    return found.healthy, (
        f"{state}, sing-box {found.sing_box_version}, {found.connections} connections, {sync}"
    )


def run_each(
    items: Sequence[T],
    name: Callable[[T], str],
    work: Callable[[T], tuple[bool, str]],
    report: Report,
    cancel: threading.Event,
) -> list[ItemResult]:
    """Run `work` for each item a few at a time; cancelling skips items not yet started."""

    def one(item: T) -> ItemResult | None:
        label = name(item)
        if cancel.is_set():
            return None
        report(label, RUNNING, "connecting…")
        try:
            ok, message = work(item)
        except Exception as exc:
            ok, message = False, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        report(label, OK if ok else FAILED, message)
        return ItemResult(label, ok, message)

    results: list[ItemResult] = []
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for future in as_completed([pool.submit(one, item) for item in items]):
            outcome = future.result()
            if outcome is not None:
                results.append(outcome)
    return results


def push(
    jobs: Sequence[PushJob], report: Report, cancel: threading.Event
) -> tuple[list[ItemResult], list[PushResult]]:
    """Push each job with live stage reports; returns display results and raw results."""
    raw: list[PushResult] = []
    lock = threading.Lock()

    def work(job: PushJob) -> tuple[bool, str]:
        def progress(node_name: str, stage: Stage) -> None:
            report(node_name, RUNNING, stage.value)

        result = push_one(job, on_progress=progress)
        with lock:
            raw.append(result)
        return result.ok, push_message(result)

    shown = run_each(jobs, lambda j: j.node_name, work, report, cancel)
    return shown, raw


def check_status(
    nodes: Sequence[Node], report: Report, cancel: threading.Event
) -> list[ItemResult]:
    return run_each(
        nodes,
        lambda n: n.name,
        lambda n: status_message(status.node_status(n, CONNECT_TIMEOUT)),
        report,
        cancel,
    )


def record_push(session: Session, results: Sequence[PushResult]) -> None:
    """The node layer's own record (config version, last push result as JSON)."""
    fleet.record_results(session, results)


def collect(collector: AutoCollector, report: Report, cancel: threading.Event) -> list[ItemResult]:
    """Collect every node's usage in shared rounds (one transaction per round, not per
    node and page), then refresh each node's entitlements, through the app's one
    collector: a collection already under way is joined, never run twice at once.
    Cancel stops between rounds."""

    def progress(name: str, state: State, message: str) -> None:
        report(name, JOB_STATES[state], message)

    run = collector.collect(on_progress=progress, cancel=cancel)
    if run.error is not None:
        raise run.error
    # A node stopped by Cancel was already shown as such: it is no result.
    return [
        ItemResult(o.name, o.state == State.OK, o.message)
        for o in run.outcomes
        if o.state != State.CANCELLED
    ]
