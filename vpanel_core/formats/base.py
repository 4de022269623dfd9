"""The common shape of a subscription format, plus protocol facts several formats share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from vpanel_core.formats.options import FormatOptions, Selection, select
from vpanel_core.proxies import ClientProxy, Protocol, Tls, Transport

SS_2022_METHODS = frozenset(
    {"2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"}
)
SS_AEAD_METHODS = frozenset(
    {
        "aes-128-gcm",
        "aes-192-gcm",
        "aes-256-gcm",
        "chacha20-ietf-poly1305",
        "xchacha20-ietf-poly1305",
    }
)
VMESS_CIPHERS = frozenset({"auto", "none", "zero", "aes-128-gcm", "chacha20-poly1305"})
VISION = "xtls-rprx-vision"
TLS_REQUIRED = frozenset({Protocol.HYSTERIA2, Protocol.TUIC, Protocol.ANYTLS})
_TRANSPORT_CAPABLE = frozenset({Protocol.VLESS, Protocol.VMESS, Protocol.TROJAN})


def tls_of(proxy: ClientProxy) -> Tls | None:
    """The proxy's TLS; protocols that only run over TLS get defaults when none is set."""
    if proxy.tls is None and proxy.protocol in TLS_REQUIRED:
        return Tls()
    return proxy.tls


def vmess_cipher(proxy: ClientProxy) -> str:
    return proxy.method or "auto"


def sane(proxy: ClientProxy) -> bool:
    """Combinations no client can express: REALITY/Vision outside VLESS, Vision off raw TCP,
    unknown ciphers."""
    if proxy.tls is not None and proxy.tls.is_reality and proxy.protocol is not Protocol.VLESS:
        return False
    if proxy.flow and (
        proxy.protocol is not Protocol.VLESS or proxy.transport is not Transport.TCP
    ):
        return False
    if proxy.protocol is Protocol.SHADOWSOCKS:
        # multi-user SS2022 (EIH, `server:user` keys) exists only for the AES ciphers
        eih_ok = proxy.method != "2022-blake3-chacha20-poly1305" or ":" not in proxy.password
        return proxy.method in SS_2022_METHODS | SS_AEAD_METHODS and eih_ok
    if proxy.protocol is Protocol.VMESS:
        return vmess_cipher(proxy) in VMESS_CIPHERS
    return True


class SubscriptionFormat(ABC):
    """One client format. Subclasses say what they support and render a `Selection`."""

    name: ClassVar[str]
    content_type: ClassVar[str]
    file_extension: ClassVar[str]
    #: group / outbound names that proxy names must not take
    reserved_names: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def supports(self, proxy: ClientProxy) -> bool:
        """Whether this format can express `proxy` (protocol, transport, cipher…)."""

    @abstractmethod
    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        """Serialize already filtered and renamed proxies."""

    def clean_name(self, name: str) -> str:
        """Make a display name safe for this syntax (line formats drop separators)."""
        return name

    def generate(self, proxies: Sequence[ClientProxy], options: FormatOptions) -> bytes:
        selection = select(proxies, options, self.supports, self.clean_name, self.reserved_names)
        return self.render(selection, options)


def skipped_comments(selection: Selection, fmt: str, prefix: str = "#") -> list[str]:
    """One comment line per proxy this format had to leave out."""
    return [
        f"{prefix} skipped {p.name!r} ({p.protocol.value}/{p.transport.value}): "
        f"not supported by {fmt}"
        for p in selection.skipped
    ]


def line_safe(name: str) -> str:
    """Names in `key=value, …` line formats cannot hold separators."""
    return name.replace(",", " ").replace("=", "-").replace("\n", " ").replace("\r", " ").strip()
