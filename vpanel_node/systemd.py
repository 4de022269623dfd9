"""The systemd unit for production nodes (remote_dir /opt/vpanel-node)."""

from __future__ import annotations

UNIT_NAME = "vpanel-node.service"


def unit_text(remote_dir: str, python: str = "/usr/bin/python3") -> str:
    return f"""[Unit]
Description=vpanel node helper (supervises sing-box)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
Environment=PYTHONPATH={remote_dir}/lib
ExecStart={python} -m vpanel_node supervise --dir {remote_dir}
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
Restart=always
RestartSec=2
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
"""
