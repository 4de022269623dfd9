"""How the desktop invokes the node helper over SSH and reads its one-line JSON answer."""

from __future__ import annotations

import json
import shlex
from typing import Any

from vpanel_core.nodes.errors import RemoteCommandFailed
from vpanel_core.nodes.ssh import CommandResult

PYTHON = "python3"


def helper_command(remote_dir: str, command: str, *args: str) -> str:
    """`python3 -m vpanel_node <command> --dir <remote_dir> …` with the uploaded package."""
    quoted = " ".join(shlex.quote(a) for a in (command, "--dir", remote_dir, *args))
    lib = shlex.quote(f"{remote_dir}/lib")
    return f"PYTHONPATH={lib} {PYTHON} -m vpanel_node {quoted}"


def helper_report(result: CommandResult) -> dict[str, Any]:
    """The helper's JSON report; a crash (no JSON) becomes a clear error with its stderr."""
    lines = result.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        raise RemoteCommandFailed(
            f"node helper gave no report (exit {result.exit_code}): {result.stderr.strip()[-500:]}"
        )
    return report
