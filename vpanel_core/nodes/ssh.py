"""SSH to a node with a pinned host key (trust on first use) and a key from `ssh_key_ref`.

The operator confirms the fingerprint `fetch_host_key` returns, the app pins it, and from
then on every connection compares the offered key with the pin before authenticating:
a changed key raises `HostKeyMismatch` and nothing is sent to the node.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import paramiko

from vpanel_core.models import Node
from vpanel_core.nodes.errors import (
    HostKeyMismatch,
    HostKeyNotPinned,
    NodeUnreachable,
    RemoteCommandFailed,
    SshAuthFailed,
    UploadIncomplete,
)

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
# Host key algorithms paramiko negotiates for each key type a node may have pinned.
HOST_KEY_ALGORITHMS = {
    "ssh-ed25519": ["ssh-ed25519"],
    "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
    "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
    "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
    "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
}
# Errors that mean "the link is gone", as opposed to "the node said no".
LINK_ERRORS = (OSError, EOFError, paramiko.SSHException)


@dataclass(frozen=True, slots=True)
class HostKey:
    """A public host key in OpenSSH line form (`ssh-ed25519 AAAA…`)."""

    line: str

    @classmethod
    def from_pkey(cls, key: paramiko.PKey) -> HostKey:
        return cls(f"{key.get_name()} {key.get_base64()}")

    @property
    def key_type(self) -> str:
        return self.line.split()[0]

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint exactly as `ssh-keygen -lf` prints it."""
        blob = base64.b64decode(self.line.split()[1])
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Everything needed to reach one node; plain data so push threads never touch the DB."""

    host: str
    port: int
    user: str
    key_ref: str = field(repr=False)
    host_key: str
    timeout: float = CONNECT_TIMEOUT

    @classmethod
    def from_node(cls, node: Node, timeout: float = CONNECT_TIMEOUT) -> SshTarget:
        return cls(
            node.host, node.ssh_port, node.ssh_user, node.ssh_key_ref, node.host_key, timeout
        )

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str


def load_private_key(key_ref: str) -> paramiko.PKey:
    """`key_ref` is either the private key itself (PEM / OpenSSH) or a path to it."""
    text = key_ref if "PRIVATE KEY-----" in key_ref else _read_key_file(key_ref)
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SshAuthFailed("the node's SSH private key is not a readable unencrypted key")


def _read_key_file(path: str) -> str:
    if not path:
        raise SshAuthFailed("no SSH private key configured for this node")
    try:
        return Path(path).expanduser().read_text()
    except OSError as exc:
        raise SshAuthFailed(f"cannot read SSH private key {path}: {exc.strerror}") from exc


def _open_transport(
    host: str, port: int, timeout: float, key_types: list[str] | None
) -> paramiko.Transport:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise NodeUnreachable(f"cannot reach {host}:{port}: {exc}") from exc
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    if key_types:
        transport.get_security_options().key_types = key_types
    try:
        transport.start_client(timeout=timeout)
    except LINK_ERRORS as exc:
        transport.close()
        raise NodeUnreachable(f"SSH handshake with {host}:{port} failed: {exc}") from exc
    return transport


def fetch_host_key(host: str, port: int = 22, timeout: float = CONNECT_TIMEOUT) -> HostKey:
    """The key the node offers now, for the operator to confirm before pinning it."""
    transport = _open_transport(host, port, timeout, None)
    try:
        return HostKey.from_pkey(transport.get_remote_server_key())
    finally:
        transport.close()


def pin_host_key(node: Node, host_key: HostKey) -> None:
    """Trust this key for the node from now on (the caller owns the transaction)."""
    node.host_key = host_key.line


class SshSession:
    """One authenticated connection to a node: run commands, write files."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._transport = self._connect()
        self._sftp: paramiko.SFTPClient | None = None

    def _connect(self) -> paramiko.Transport:
        target = self.target
        if not target.host_key:
            raise HostKeyNotPinned(f"no pinned host key for {target.label}: fetch and pin it first")
        pinned = HostKey(target.host_key)
        key = load_private_key(target.key_ref)
        algorithms = HOST_KEY_ALGORITHMS.get(pinned.key_type, [pinned.key_type])
        transport = _open_transport(target.host, target.port, target.timeout, algorithms)
        try:
            offered = HostKey.from_pkey(transport.get_remote_server_key())
            if offered.line.split()[:2] != pinned.line.split()[:2]:
                raise HostKeyMismatch(target.label, pinned.fingerprint, offered.fingerprint)
            transport.auth_publickey(target.user, key)
        except paramiko.AuthenticationException as exc:
            transport.close()
            raise SshAuthFailed(f"{target.label} rejected the SSH key: {exc}") from exc
        except LINK_ERRORS as exc:
            transport.close()
            raise NodeUnreachable(f"connection to {target.label} dropped: {exc}") from exc
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(15)
        return transport

    def run(
        self,
        command: str,
        *,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        on_line: Callable[[str], None] | None = None,
    ) -> CommandResult:
        """Run `command`; `on_line` sees each stdout line as it arrives (progress)."""
        try:
            channel = self._transport.open_session(timeout=self.target.timeout)
            channel.settimeout(timeout)
            channel.exec_command(command)
            lines = []
            for raw in channel.makefile("rb"):
                line = raw.decode(errors="replace")
                lines.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            code = channel.recv_exit_status()
            channel.close()
        except LINK_ERRORS as exc:
            raise NodeUnreachable(f"connection to {self.target.label} dropped: {exc}") from exc
        result = CommandResult(code, "".join(lines), stderr)
        if check and code != 0:
            raise RemoteCommandFailed(
                f"command on {self.target.label} failed (exit {code}): {stderr.strip()[-500:]}",
                details={"exit_code": code},
            )
        return result

    def read_file(self, path: str) -> bytes | None:
        """A small remote file's content over SFTP (no shell); None if it does not exist."""
        sftp = self.sftp()
        try:
            with sftp.open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except LINK_ERRORS as exc:
            raise NodeUnreachable(f"reading {path} on {self.target.label} failed: {exc}") from exc

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport)
            except LINK_ERRORS as exc:
                raise NodeUnreachable(f"SFTP to {self.target.label} failed: {exc}") from exc
            if self._sftp is None:
                raise NodeUnreachable(f"SFTP to {self.target.label} was refused")
        return self._sftp

    def write_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write `data` to `path` (mode set before any content lands: secrets stay private)."""
        sftp = self.sftp()
        try:
            with sftp.open(path, "wb") as handle:
                sftp.chmod(path, mode)
                handle.set_pipelined(True)
                handle.write(data)
            landed = sftp.stat(path).st_size
        except LINK_ERRORS as exc:
            raise NodeUnreachable(f"upload of {path} to {self.target.label} failed: {exc}") from exc
        if landed != len(data):
            # Pipelined writes can fail silently on a full disk; never hand on half a file.
            with contextlib.suppress(*LINK_ERRORS):
                sftp.remove(path)
            raise UploadIncomplete(
                f"upload of {path} to {self.target.label} stopped at {landed} of {len(data)} "
                "bytes: is the node's disk full?"
            )

    def replace_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write next to `path`, then rename over it: the node never reads half a file."""
        tmp = f"{path}.tmp"
        self.write_file(tmp, data, mode)
        try:
            self.sftp().posix_rename(tmp, path)
        except LINK_ERRORS as exc:
            raise NodeUnreachable(f"renaming {path} on {self.target.label} failed: {exc}") from exc

    def upload(self, local: Path, path: str, mode: int) -> None:
        sftp = self.sftp()
        try:
            sftp.put(str(local), path)
            sftp.chmod(path, mode)
        except LINK_ERRORS as exc:
            raise NodeUnreachable(f"upload of {path} to {self.target.label} failed: {exc}") from exc

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self._transport.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
