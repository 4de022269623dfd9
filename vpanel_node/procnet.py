"""Sockets from /proc: which ports a process listens on, and its established connections.

Reading /proc (not `ss`) keeps the helper free of iproute2 and lets it tell sing-box's
own listeners from another process squatting on the same port.
"""

from __future__ import annotations

import os
from pathlib import Path

TCP_LISTEN = "0A"
TCP_ESTABLISHED = "01"
UDP_UNCONNECTED = "07"


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _rows(network: str) -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) for tcp/udp over IPv4 and IPv6."""
    rows = []
    for suffix in ("", "6"):
        try:
            lines = Path(f"/proc/net/{network}{suffix}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            rows.append(
                (
                    int(local.rsplit(":", 1)[1], 16),
                    int(remote.rsplit(":", 1)[1], 16),
                    state,
                    int(inode),
                )
            )
    return rows


def listening(inodes: set[int]) -> dict[tuple[str, int], int]:
    """{("tcp" | "udp", port): socket inode} for listeners among the sockets in `inodes`."""
    found = {}
    for port, _remote, state, inode in _rows("tcp"):
        if state == TCP_LISTEN and inode in inodes:
            found[("tcp", port)] = inode
    for port, _remote, state, inode in _rows("udp"):
        if state == UDP_UNCONNECTED and inode in inodes:
            found[("udp", port)] = inode
    return found


def established_on(inodes: set[int], ports: set[int]) -> int:
    """Established TCP connections of these sockets whose local port is one of `ports`."""
    return sum(
        1
        for port, _remote, state, inode in _rows("tcp")
        if state == TCP_ESTABLISHED and inode in inodes and port in ports
    )
