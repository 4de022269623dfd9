"""The portal's one typed settings object, built from the environment or by tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vpanel_core import config as core_config
from vpanel_core.ratelimit import Limit, LockoutPolicy

CAPTCHA_PROVIDERS = ("altcha", "turnstile", "recaptcha", "hcaptcha")
SITEVERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}
SECRET_FILE = "portal_secret.key"  # noqa: S105 (a file name, not a secret)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Outgoing mail; an empty host means mail is logged as unsent (development only)."""

    host: str = ""
    port: int = 25
    sender: str = "vpanel@localhost"
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class CaptchaSettings:
    """`altcha` is our own proof of work; the others call the vendor's siteverify."""

    provider: str = "altcha"
    site_key: str = ""
    secret: str = field(default="", repr=False)
    verify_url: str = ""
    altcha_max_number: int = 100_000
    ttl_seconds: int = 600

    def __post_init__(self) -> None:
        if self.provider not in CAPTCHA_PROVIDERS:
            raise ValueError(f"captcha provider must be one of {', '.join(CAPTCHA_PROVIDERS)}")
        url = self.siteverify_url
        if url and not url.startswith(("https://", "http://")):
            raise ValueError("the captcha verify URL must be http(s)")

    @property
    def siteverify_url(self) -> str:
        return self.verify_url or SITEVERIFY_URLS.get(self.provider, "")


LOGIN_LIMIT = Limit(20, 60)
REGISTER_LIMIT = Limit(10, 3600)
MAIL_LIMIT = Limit(5, 3600)
SUBSCRIPTION_LIMIT = Limit(120, 60)
SUBSCRIPTION_MISS_LIMIT = Limit(30, 600)
LOCKOUT = LockoutPolicy()


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-address limits (and one per e-mail for mail sending)."""

    login: Limit = LOGIN_LIMIT
    register: Limit = REGISTER_LIMIT
    mail: Limit = MAIL_LIMIT
    subscription: Limit = SUBSCRIPTION_LIMIT
    subscription_miss: Limit = SUBSCRIPTION_MISS_LIMIT
    lockout: LockoutPolicy = LOCKOUT


@dataclass(frozen=True, slots=True)
class PortalConfig:
    database_url: str
    secret_key: str = field(repr=False)
    public_url: str = ""
    session_days: int = 14
    cookie_secure: bool = False
    max_content_length: int = 64 * 1024
    trusted_proxy_hops: int = 0
    default_locale: str = "en"
    smtp: SmtpSettings = SmtpSettings()
    captcha: CaptchaSettings = CaptchaSettings()
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        if len(self.secret_key) < 32:
            raise ValueError("the portal secret key must be at least 32 characters")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PortalConfig:
        env = os.environ if env is None else env
        url = env.get("DATABASE_URL") or env.get("VPANEL_DATABASE_URL")
        public_url = env.get("VPANEL_PORTAL_URL", "")
        return cls(
            database_url=url or core_config.database_url(),
            secret_key=env.get("VPANEL_SECRET_KEY") or stored_secret_key(core_config.data_dir()),
            public_url=public_url,
            cookie_secure=_flag(env.get("VPANEL_COOKIE_SECURE"), public_url.startswith("https")),
            trusted_proxy_hops=int(env.get("VPANEL_TRUSTED_PROXY_HOPS", "0")),
            default_locale=env.get("VPANEL_PORTAL_LOCALE", "en"),
            smtp=SmtpSettings(
                host=env.get("VPANEL_SMTP_HOST", ""),
                port=int(env.get("VPANEL_SMTP_PORT", "25")),
                sender=env.get("VPANEL_SMTP_SENDER", "vpanel@localhost"),
                username=env.get("VPANEL_SMTP_USERNAME", ""),
                password=env.get("VPANEL_SMTP_PASSWORD", ""),
                starttls=_flag(env.get("VPANEL_SMTP_STARTTLS"), False),
                use_ssl=_flag(env.get("VPANEL_SMTP_SSL"), False),
            ),
            captcha=CaptchaSettings(
                provider=env.get("VPANEL_CAPTCHA_PROVIDER", "altcha"),
                site_key=env.get("VPANEL_CAPTCHA_SITE_KEY", ""),
                secret=env.get("VPANEL_CAPTCHA_SECRET", ""),
                verify_url=env.get("VPANEL_CAPTCHA_VERIFY_URL", ""),
            ),
        )


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def stored_secret_key(data_dir: Path) -> str:
    """The key in the data directory, created (mode 0600) on first start.

    Several processes on one machine share it; several machines must set
    VPANEL_SECRET_KEY to the same value instead.
    """
    path = data_dir / SECRET_FILE
    if not path.exists():
        # Write aside, then hard-link into place: atomic, and the first process wins.
        tmp = data_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
