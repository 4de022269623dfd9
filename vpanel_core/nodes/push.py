"""Push a rendered config to one node: upload → `sing-box check` → atomic switch → reload →
health check, with rollback to the last good config done by the node helper itself.

An unchanged config (same sha256 as the one the helper recorded for its config.json) is
neither uploaded nor reloaded; that comparison reads one small file over SFTP, so it
costs no remote shell. Check, switch, reload and health run as one helper command that
reports its progress line by line. Connection failures up to the upload are retried with
backoff; later ones are not, because the node may already be switching.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from vpanel_core.nodes.errors import NodeError, NodeUnreachable
from vpanel_core.nodes.remote import helper_command, helper_report
from vpanel_core.nodes.ssh import SshSession, SshTarget

RELOAD_TIMEOUT = 15.0
RETRIES = 2
BACKOFF = 0.5


class Stage(StrEnum):
    """Where a push is; `activate` = atomic rename + reload, `health` = the check after it."""

    CONNECT = "connect"
    COMPARE = "compare"
    UPLOAD = "upload"
    CHECK = "check"
    ACTIVATE = "activate"
    HEALTH = "health"
    DONE = "done"


FAILURE_CODES = {
    Stage.CHECK: "CONFIG_REJECTED",
    Stage.ACTIVATE: "ACTIVATE_FAILED",
    Stage.HEALTH: "HEALTH_CHECK_FAILED",
}
STAGE_NAMES = frozenset(s.value for s in Stage)
RETRYABLE_STAGES = frozenset({Stage.CONNECT, Stage.COMPARE, Stage.UPLOAD})


class Outcome(StrEnum):
    OK = "ok"
    UNCHANGED = "unchanged"
    FAILED = "failed"


ProgressCallback = Callable[[str, Stage], None]


@dataclass(frozen=True, slots=True)
class PushJob:
    """One node's rendered config and how to reach it: plain data, no DB session."""

    node_id: str
    node_name: str
    target: SshTarget
    remote_dir: str
    config: bytes = field(repr=False)
    version: str
    # portal.json: where the node pulls users the portal entitles (None: not paired).
    portal_settings: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PushResult:
    node_id: str
    node_name: str
    outcome: Outcome
    stage: Stage
    version: str
    error: str = ""
    error_code: str = ""
    rolled_back: bool = False
    attempts: int = 1
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILED

    def summary(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "stage": self.stage.value,
            "version": self.version,
            "error": self.error,
            "error_code": self.error_code,
            "rolled_back": self.rolled_back,
            "attempts": self.attempts,
        }


class _Failed(Exception):
    def __init__(self, stage: Stage, message: str, rolled_back: bool = False) -> None:
        super().__init__(message)
        self.stage = stage
        self.rolled_back = rolled_back


class _Attempt:
    """One try at pushing; remembers the stage it reached for the result."""

    def __init__(self, job: PushJob, on_progress: ProgressCallback | None) -> None:
        self.job = job
        self.stage = Stage.CONNECT
        self.on_progress = on_progress

    def enter(self, stage: Stage) -> None:
        self.stage = stage
        if self.on_progress is not None:
            self.on_progress(self.job.node_name, stage)

    def _progress_line(self, line: str) -> None:
        """The helper announces `{"progress": "check"}` / `"activate"` as it gets there."""
        if line.startswith('{"progress"'):
            self.enter(Stage(json.loads(line)["progress"]))

    def run(self, reload_timeout: float) -> Outcome:
        job, d = self.job, self.job.remote_dir
        self.enter(Stage.CONNECT)
        with SshSession(job.target) as ssh:
            if job.portal_settings is not None:
                ssh.replace_file(f"{d}/portal.json", job.portal_settings, 0o600)
            self.enter(Stage.COMPARE)
            current = ssh.read_file(f"{d}/config.json.sha256")
            if current is not None and current.decode().strip() == job.version:
                return Outcome.UNCHANGED
            self.enter(Stage.UPLOAD)
            incoming = f"{d}/incoming/config-{job.version[:12]}-{secrets.token_hex(4)}.json"
            ssh.write_file(incoming, job.config, 0o600)
            command = helper_command(
                d, "apply", "--config", incoming, "--timeout", str(reload_timeout)
            )
            applied = helper_report(
                ssh.run(
                    command,
                    check=False,
                    timeout=reload_timeout * 3 + 60,
                    on_line=self._progress_line,
                )
            )
            if not applied.get("ok"):
                reported = str(applied.get("stage", ""))
                stage = Stage(reported) if reported in STAGE_NAMES else Stage.ACTIVATE
                message = str(applied.get("error", ""))
                if applied.get("rolled_back") and not applied.get("rollback_ok"):
                    message += f"; rollback failed too: {applied.get('rollback_error', '')}"
                raise _Failed(stage, message, bool(applied.get("rolled_back")))
        return Outcome.OK


def push_one(
    job: PushJob,
    *,
    on_progress: ProgressCallback | None = None,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    reload_timeout: float = RELOAD_TIMEOUT,
) -> PushResult:
    """Push to one node; never raises for node trouble, the result says what happened."""
    started = time.monotonic()

    def result(
        outcome: Outcome,
        stage: Stage,
        attempts: int,
        error: str = "",
        error_code: str = "",
        rolled_back: bool = False,
    ) -> PushResult:
        return PushResult(
            job.node_id,
            job.node_name,
            outcome,
            stage,
            job.version,
            error=error,
            error_code=error_code,
            rolled_back=rolled_back,
            attempts=attempts,
            seconds=round(time.monotonic() - started, 3),
        )

    attempt_no = 0
    while True:
        attempt_no += 1
        attempt = _Attempt(job, on_progress)
        try:
            outcome = attempt.run(reload_timeout)
        except NodeUnreachable as exc:
            if attempt.stage in RETRYABLE_STAGES and attempt_no <= retries:
                time.sleep(backoff * 2 ** (attempt_no - 1))
                continue
            return result(
                Outcome.FAILED, attempt.stage, attempt_no, error=exc.message, error_code=exc.code
            )
        except NodeError as exc:
            return result(
                Outcome.FAILED, attempt.stage, attempt_no, error=exc.message, error_code=exc.code
            )
        except _Failed as exc:
            return result(
                Outcome.FAILED,
                exc.stage,
                attempt_no,
                error=str(exc),
                error_code=FAILURE_CODES.get(exc.stage, "PUSH_FAILED"),
                rolled_back=exc.rolled_back,
            )
        except Exception as exc:  # an unexpected bug must not sink the other nodes' results
            return result(
                Outcome.FAILED,
                attempt.stage,
                attempt_no,
                error=f"{type(exc).__name__}: {exc}",
                error_code="INTERNAL_ERROR",
            )
        if on_progress is not None:
            on_progress(job.node_name, Stage.DONE)
        return result(outcome, Stage.DONE, attempt_no)
