"""Registration captcha: our own ALTCHA proof of work, or a vendor's siteverify.

ALTCHA needs no third party: the server signs a SHA-256 puzzle, the browser finds the
number, the server checks the signature, the expiry and that the puzzle is used once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from altcha.v1 import ChallengeOptions, create_challenge, verify_solution
from sqlalchemy.orm import Session

from portal.config import CaptchaSettings
from vpanel_core import ratelimit
from vpanel_core.errors import DomainError
from vpanel_core.timeutil import utcnow

log = logging.getLogger(__name__)
RESPONSE_FIELDS = {
    "altcha": "altcha",
    "turnstile": "cf-turnstile-response",
    "recaptcha": "g-recaptcha-response",
    "hcaptcha": "h-captcha-response",
}


class CaptchaFailed(DomainError):
    code = "CAPTCHA_FAILED"
    http_status = 400

    def __init__(self) -> None:
        super().__init__("the captcha was not solved; please try again")


class Captcha(Protocol):
    provider: str

    def widget(self) -> dict[str, Any]:
        """What the form template needs to show the challenge."""

    def verify(self, form: Mapping[str, str], remote_ip: str, session: Session) -> None:
        """Raise `CaptchaFailed` unless the form carries a valid, unused solution."""


class AltchaCaptcha:
    provider = "altcha"

    def __init__(self, secret_key: str, settings: CaptchaSettings) -> None:
        self._key = hmac.new(secret_key.encode(), b"vpanel-altcha", hashlib.sha256).hexdigest()
        self._settings = settings

    def widget(self) -> dict[str, Any]:
        challenge = create_challenge(
            ChallengeOptions(
                hmac_key=self._key,
                max_number=self._settings.altcha_max_number,
                expires=utcnow() + timedelta(seconds=self._settings.ttl_seconds),
            )
        )
        return {"provider": self.provider, "challenge": json.dumps(challenge.to_dict())}

    def verify(self, form: Mapping[str, str], remote_ip: str, session: Session) -> None:
        payload = form.get(RESPONSE_FIELDS[self.provider], "")
        if not payload or len(payload) > 4096:
            raise CaptchaFailed()
        ok, _reason = verify_solution(payload, self._key, check_expires=True)
        if not ok:
            raise CaptchaFailed()
        # One solution, one registration: the puzzle's first use is the only one counted.
        try:
            ratelimit.hit(
                session, "captcha", payload, ratelimit.Limit(1, self._settings.ttl_seconds * 2)
            )
        except ratelimit.RateLimited:
            raise CaptchaFailed() from None


class SiteverifyCaptcha:
    """Turnstile, reCAPTCHA and hCaptcha share one protocol: POST secret + response."""

    def __init__(self, settings: CaptchaSettings) -> None:
        self.provider = settings.provider
        self._settings = settings

    def widget(self) -> dict[str, Any]:
        return {"provider": self.provider, "site_key": self._settings.site_key}

    def verify(self, form: Mapping[str, str], remote_ip: str, session: Session) -> None:
        response = form.get(RESPONSE_FIELDS[self.provider], "")
        if not response or len(response) > 4096:
            raise CaptchaFailed()
        data = urllib.parse.urlencode(
            {"secret": self._settings.secret, "response": response, "remoteip": remote_ip}
        ).encode()
        url = self._settings.siteverify_url  # http(s) only, checked in CaptchaSettings
        request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
                result = json.loads(reply.read(65536))
        except (OSError, ValueError) as exc:
            log.error("captcha siteverify failed: %s", type(exc).__name__)
            raise CaptchaFailed() from None
        if not (isinstance(result, dict) and result.get("success") is True):
            raise CaptchaFailed()


def make_captcha(secret_key: str, settings: CaptchaSettings) -> Captcha:
    if settings.provider == "altcha":
        return AltchaCaptcha(secret_key, settings)
    return SiteverifyCaptcha(settings)
