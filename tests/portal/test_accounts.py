"""Register with captcha, confirm by real SMTP mail, log in/out, reset, change e-mail/password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask.testing import FlaskClient

from tests.fixtures.portal import PASSWORD, body, csrf_of, login, make_customer, register_form
from tests.fixtures.smtp import Mailbox
from vpanel_core.db import transaction
from vpanel_core.models import User
from vpanel_core.runtime import Database


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def user_count(db: Database) -> int:
    with transaction(db.sessions) as session:
        return session.query(User).count()


def register(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str):
    token, solution = register_form(client)
    data = {"email": email, "password": password, "csrf_token": token, "altcha": solution}
    data.update(extra)
    return client.post("/register", data=data)


def test_register_confirm_by_mail_then_log_in(client: FlaskClient, smtp_server: Mailbox, db):
    response = register(client, "new@example.com")
    assert response.status_code == 200
    assert "new@example.com" in response.get_data(as_text=True)

    early = login(client, "new@example.com")
    assert early.status_code == 403 and 'data-code="EMAIL_NOT_VERIFIED"' in early.get_data(
        as_text=True
    )

    mail = smtp_server.wait_for("new@example.com")
    assert "Confirm" in str(mail["Subject"])
    confirmed = client.get(path_of(smtp_server.link_in(mail)))
    assert confirmed.status_code == 302
    assert login(client, "new@example.com").status_code == 302
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200 and 'data-status="expired"' in dashboard.get_data(
        as_text=True
    )
    assert client.get(path_of(smtp_server.link_in(mail))).status_code == 404  # single use


def test_registering_a_taken_address_looks_like_success_and_tells_its_owner(
    client: FlaskClient, smtp_server: Mailbox, db
):
    make_customer(db, "taken@example.com")
    taken = register(client, "taken@example.com")
    fresh = register(client, "fresh@example.com")

    assert taken.status_code == fresh.status_code == 200
    assert taken.get_data(as_text=True) == fresh.get_data(as_text=True).replace(
        "fresh@example.com", "taken@example.com"
    )
    notice = smtp_server.wait_for("taken@example.com")
    assert "tried to register" in str(notice["Subject"])
    reset_form = client.get(path_of(smtp_server.link_in(notice)))
    assert reset_form.status_code == 200  # the owner can set a new password from it
    assert user_count(db) == 2
    assert login(client, "taken@example.com").status_code == 302  # nothing changed


def test_wrong_or_reused_captcha_is_rejected_and_writes_nothing(client: FlaskClient, db):
    token, solution = register_form(client)
    bad = client.post(
        "/register",
        data={
            "email": "x@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "altcha": "Zm9v",
        },
    )
    first = client.post(
        "/register",
        data={
            "email": "y@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "altcha": solution,
        },
    )
    replay = client.post(
        "/register",
        data={
            "email": "z@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "altcha": solution,
        },
    )
    assert bad.status_code == 400 and 'data-code="CAPTCHA_FAILED"' in bad.get_data(as_text=True)
    assert first.status_code == 200
    assert replay.status_code == 400 and 'data-code="CAPTCHA_FAILED"' in replay.get_data(
        as_text=True
    )
    assert user_count(db) == 1


def test_malformed_email_and_short_password_are_clear_errors(client, db):
    make_customer(db, "taken@example.com")
    malformed = register(client, "not-an-email")
    short = register(client, "ok@example.com", password="short")
    short_on_taken = register(client, "taken@example.com", password="short")

    assert malformed.status_code == 400 and "invalid e-mail address" in malformed.get_data(
        as_text=True
    )
    assert short.status_code == 400 and "password must be" in short.get_data(as_text=True)
    assert short_on_taken.status_code == 400  # the same refusal as for a new address
    assert "password must be" in short_on_taken.get_data(as_text=True)
    assert user_count(db) == 1


def test_forms_without_csrf_token_are_refused(client: FlaskClient, db):
    make_customer(db)
    response = client.post("/login", data={"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert 'data-code="CSRF_FAILED"' in response.get_data(as_text=True)


def test_wrong_password_and_unknown_email_look_the_same(client: FlaskClient, db):
    make_customer(db)
    wrong = login(client, "alice@example.com", "not-the-password")
    unknown = login(client, "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert 'data-code="INVALID_CREDENTIALS"' in unknown.get_data(as_text=True)


def test_password_reset_by_mail(client: FlaskClient, smtp_server: Mailbox, db):
    make_customer(db)
    token = csrf_of(client.get("/forgot").get_data(as_text=True))
    unknown = client.post("/forgot", data={"email": "ghost@example.com", "csrf_token": token})
    known = client.post("/forgot", data={"email": "alice@example.com", "csrf_token": token})
    assert unknown.get_data(as_text=True) == known.get_data(as_text=True).replace("alice", "ghost")

    link = path_of(smtp_server.link_in(smtp_server.wait_for("alice@example.com")))
    form = client.get(link)
    assert form.status_code == 200
    done = client.post(
        link,
        data={"password": "a brand new secret", "csrf_token": csrf_of(form.get_data(as_text=True))},
    )
    assert done.status_code == 302
    assert login(client, "alice@example.com", PASSWORD).status_code == 401
    assert login(client, "alice@example.com", "a brand new secret").status_code == 302
    assert client.get(link).status_code == 404
    assert client.get("/reset/" + "x" * 43).status_code == 404
    assert smtp_server.to("ghost@example.com") == []


def test_change_email_needs_the_link_sent_to_the_new_address(client, smtp_server: Mailbox, db):
    make_customer(db)
    login(client, "alice@example.com")
    token = csrf_of(client.get("/profile").get_data(as_text=True))

    response = client.post(
        "/profile/email",
        data={"email": "alice@new.example", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 200
    assert "alice@example.com" in client.get("/profile").get_data(as_text=True)

    link = path_of(smtp_server.link_in(smtp_server.wait_for("alice@new.example")))
    assert client.get(link).status_code == 302
    assert 'id="current-email">alice@new.example<' in client.get("/profile").get_data(as_text=True)


def test_changing_password_logs_out_other_sessions_but_not_this_one(portal_app, db):
    make_customer(db)
    phone, laptop = portal_app.test_client(), portal_app.test_client()
    login(phone, "alice@example.com")
    login(laptop, "alice@example.com")
    token = csrf_of(laptop.get("/profile").get_data(as_text=True))

    changed = laptop.post(
        "/profile/password",
        data={"current": PASSWORD, "new": "another good one", "csrf_token": token},
    )

    assert changed.status_code == 302
    assert laptop.get("/dashboard").status_code == 200
    assert phone.get("/dashboard").status_code == 302  # back to the login page


def test_alias_is_saved(client: FlaskClient, db):
    make_customer(db)
    login(client, "alice@example.com")
    token = csrf_of(client.get("/profile").get_data(as_text=True))
    client.post("/profile/alias", data={"alias": "Alice 🚀", "csrf_token": token})
    assert 'value="Alice 🚀"' in client.get("/profile").get_data(as_text=True)


def test_logout_ends_the_session(client: FlaskClient, db):
    make_customer(db)
    login(client, "alice@example.com")
    cookie = client.get_cookie("vp_session")
    assert cookie is not None
    token = csrf_of(client.get("/dashboard").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    client.set_cookie("vp_session", cookie.value)  # a stolen copy of the old cookie
    assert client.get("/api/subscription/info").status_code == 401


def test_oversized_body_is_413_json(client: FlaskClient):
    response = client.post(
        "/api/auth/token", data=b"{" + b" " * (200 * 1024) + b"}", content_type="application/json"
    )
    assert response.status_code == 413
    assert body(response)["code"] == "PAYLOAD_TOO_LARGE"


def test_login_redirect_only_goes_to_local_paths(client: FlaskClient, db):
    make_customer(db)
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "alice@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/dashboard"
