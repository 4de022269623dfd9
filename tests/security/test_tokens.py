"""Subscription tokens: unguessable, never logged in full, never sent on in a Referer."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import requests

from portal.config import SUBSCRIPTION_MISS_LIMIT
from tests.fixtures.portal import expire_user, make_customer
from tests.fixtures.portal_process import PortalProcess
from vpanel_core.runtime import open_database
from vpanel_core.secrets_util import SHORT_CODE_ALPHABET, new_short_code, new_token

URLSAFE = set(string.ascii_letters + string.digits + "-_")
SAFE_POLICIES = {"no-referrer", "same-origin"}


def test_tokens_are_256_bit_urlsafe_and_uniform():
    tokens = [new_token() for _ in range(2000)]

    assert len(set(tokens)) == len(tokens)
    assert all(len(t) == 43 and set(t) <= URLSAFE for t in tokens)
    counts = Counter("".join(t[:-1] for t in tokens))  # the last character carries 4 bits
    expected = sum(counts.values()) / 64
    assert len(counts) == 64
    assert all(abs(c - expected) < 0.15 * expected for c in counts.values()), counts
    assert 42 * math.log2(64) + 4 == 256


def test_short_codes_cannot_be_walked_within_the_miss_limit():
    codes = [new_short_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(f"[{SHORT_CODE_ALPHABET}]{{8}}", c) for c in codes)
    assert not set("0O1lI") & set(SHORT_CODE_ALPHABET)
    space = len(SHORT_CODE_ALPHABET) ** 8
    misses_per_year = SUBSCRIPTION_MISS_LIMIT.hits * (365 * 86400 / SUBSCRIPTION_MISS_LIMIT.seconds)
    # One address, at the limit, guessing for a year hits one given code with this chance:
    assert misses_per_year / space < 1e-7


def test_tokens_never_appear_in_the_process_log_or_a_referer(portal_process: PortalProcess):
    portal_process.start()
    db = open_database(portal_process.database_url)
    alice = make_customer(db, "alice@example.com")
    base = portal_process.url
    http = requests.Session()
    bearer = http.post(
        f"{base}/api/auth/token",
        json={"email": alice.email, "password": alice.password},
        timeout=10,
    ).json()["token"]
    auth = {"Authorization": f"Bearer {bearer}"}

    fetched = [
        http.get(f"{base}/api/subscription/{alice.token}", timeout=10),
        http.get(f"{base}/sub/{alice.token}.yaml", timeout=10),
        http.get(f"{base}/sub/{alice.token}.json", timeout=10),
        http.get(f"{base}/s/{alice.short_code}", timeout=10),
        http.get(f"{base}/api/subscription/{alice.token}?format=nope", timeout=10),
        http.get(f"{base}/api/subscription/{alice.token}x", timeout=10),
    ]
    page = http.get(
        f"{base}/api/subscription/{alice.token}", headers={"Accept": "text/html"}, timeout=10
    )
    link = http.get(f"{base}/api/subscription/link", headers=auth, timeout=10)
    fresh = http.post(f"{base}/api/subscription/regenerate", headers=auth, timeout=10).json()
    new_token = fresh["subscription"].rsplit("/", 1)[1]
    new_code = fresh["short"].rsplit("/", 1)[1]
    expire_user(db, alice.id)
    refused = http.get(f"{base}/api/subscription/{new_token}", timeout=10)
    portal_process.stop()  # flush and close the log
    db.engine.dispose()

    assert [r.status_code for r in fetched] == [200, 200, 200, 200, 400, 404]
    assert page.status_code == 200 and alice.token in page.text
    assert alice.token in link.text and refused.status_code == 403
    for response in [*fetched, page, link, refused]:
        assert response.headers["Referrer-Policy"] in SAFE_POLICIES, response.url
    log = portal_process.log.read_text()
    assert f"/api/subscription/{alice.token[:4]}…" in log  # the fetches were logged, masked
    for secret in (alice.token, alice.short_code, new_token, new_code, bearer):
        assert secret not in log
