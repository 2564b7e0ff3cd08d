"""The web UI's forms: sign-in, API and access token creation and revocation, package
creation, a package's settings (retention policy, protected tags), workspace members,
workspaces, projects and repositories (create, rename, visibility), people and
invitations, replication rules, language and sign-out. Fields hold odd text (lone
surrogates, as escapes that decode to bytes that are not UTF-8), repeated fields,
missing ones, huge ones; the CSRF token is the
right one, missing, empty, wrong, another session's, or sent twice; the cookie is the
signed-in one, a visitor's, a forged one, or none; the body is urlencoded, multipart, or
neither.

Beyond the invariants of harness.py: a POST without the session's own CSRF token changes
nothing (it is refused, whatever else it holds), and so does any refused form.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.functional.api.people import PEOPLE, email
from tests.fuzz.harness import PASSWORD, Fuzz
from tests.fuzz.strategies import TEXT

FUZZ = settings.get_profile("cargohold-active")
_CSRF = re.compile(rb'name="csrf" value="([^"]+)"')
_COOKIE = "cargohold_session"

VALUES = st.one_of(TEXT, st.sampled_from(["", "x" * 70_000]))
EMAILS = [email(who) for who in PEOPLE if who != "other"]
FORMS: dict[str, tuple[str, dict[str, st.SearchStrategy[Any]]]] = {
    "sign-in": (
        "/sign-in",
        {
            "email": st.one_of(st.sampled_from([email("other"), "nobody@example.com"]), TEXT),
            "password": st.one_of(st.just(PASSWORD), st.just("chp_x"), TEXT),
            "next": st.one_of(st.sampled_from(["/", "//evil.example", "/w/globex"]), TEXT),
        },
    ),
    "token": (
        "/settings/tokens",
        {
            "name": VALUES,
            "scope": st.one_of(
                st.sampled_from(["read:package", "write:package", "admin:package"]), TEXT
            ),
            "expires": st.one_of(st.sampled_from(["7d", "30d", "1y", "never", "0d"]), TEXT),
        },
    ),
    "workspace token": (
        "/w/globex/tokens",
        {"name": VALUES, "scope": st.just("read:package"), "expires": st.just("7d")},
    ),
    "repository token": (
        "/w/globex/repos/app/tokens",
        {"name": VALUES, "scope": st.just("write:package"), "expires": st.just("30d")},
    ),
    "revoke": ("/settings/tokens/TOKEN/revoke", {}),
    "package": (
        "/new-package",
        {
            "repository": st.one_of(
                st.sampled_from(["globex/app", "acme/web", "acme/site", "globex"]), TEXT
            ),
            "name": st.one_of(st.sampled_from(["new", "a/b", "-x", "../x"]), TEXT),
        },
    ),
    "settings": (
        "/p/globex/app/-/settings",
        {
            "action": st.one_of(
                st.sampled_from(["preview", "save", "remove_policy", "run", "protection"]), TEXT
            ),
            "keep_newest": st.one_of(st.sampled_from(["1", "0", "999999", "9" * 30]), TEXT),
            "keep_pattern": st.one_of(st.sampled_from(["v*", "[", "**"]), TEXT),
            "untagged_days": st.one_of(st.sampled_from(["1", "-1", "\u0661"]), TEXT),
            "tag_days": st.one_of(st.sampled_from(["30", "²"]), TEXT),
            "patterns": st.one_of(st.sampled_from(["v*", "release-*, v*", ","]), TEXT),
            "confirm_delete_all_tags": st.sampled_from(["", "on"]),
        },
    ),
    "members": (
        "/w/globex/members",
        {
            "action": st.one_of(
                st.sampled_from(
                    [
                        "add_member",
                        "remove_member",
                        "grant",
                        "revoke",
                    ]
                ),
                TEXT,
            ),
            "email": st.one_of(st.sampled_from(EMAILS), TEXT),
            "target": st.one_of(
                st.sampled_from(["project:APP", "repository:app", "project:PLAT", "APP", ":"]),
                TEXT,
            ),
            "role": st.one_of(st.sampled_from(["read", "write", "admin", "owner"]), TEXT),
        },
    ),
    "workspace": (
        "/new-workspace",
        {"slug": st.one_of(st.sampled_from(["globex", "-x", "new"]), TEXT), "name": VALUES},
    ),
    "workspace settings": ("/w/globex/settings", {"name": VALUES}),
    "replication": (
        "/w/globex/replications",
        {
            # Addresses the forgery guard refuses without a lookup: no name to resolve.
            "url": st.one_of(
                st.sampled_from(["http://127.0.0.1:9", "https://169.254.169.254", "ftp://x"]),
                TEXT,
            ),
            "package": st.one_of(st.sampled_from(["app", "globex/app", "../x", ""]), TEXT),
            "prefix": st.one_of(st.sampled_from(["mirror", "Up/Per", "a//b"]), TEXT),
            "username": VALUES,
            "password": VALUES,
            "active": st.sampled_from(["", "yes"]),
        },
    ),
    "project": (
        "/w/globex/projects",
        {"key": st.one_of(st.sampled_from(["APP", "OPS", "ops", ""]), TEXT), "name": VALUES},
    ),
    "project settings": ("/w/globex/projects/APP/settings", {"name": VALUES}),
    "repository": (
        "/w/globex/repos",
        {
            "slug": st.one_of(st.sampled_from(["app", "docs", "Web App"]), TEXT),
            "project": st.one_of(st.sampled_from(["APP", "PLAT"]), TEXT),
            "visibility": st.one_of(st.sampled_from(["private", "public"]), TEXT),
        },
    ),
    "repository settings": (
        "/w/globex/repos/app/settings",
        {
            "action": st.one_of(st.sampled_from(["rename", "visibility"]), TEXT),
            "slug": st.one_of(st.sampled_from(["app", "Web App", ""]), TEXT),
            "visibility": st.one_of(st.sampled_from(["private", "public"]), TEXT),
        },
    ),
    "people": (
        "/admin/people",
        {
            "action": st.one_of(st.sampled_from(["create", "invite"]), TEXT),
            "email": st.one_of(st.sampled_from(EMAILS), TEXT),
            "name": VALUES,
            "password": VALUES,
            "admin": st.sampled_from(["", "on"]),
        },
    ),
    "invitation": (
        "/invitation",
        {
            "code": st.one_of(st.just("a" * 12 + "_" + "b" * 43), TEXT),
            "password": VALUES,
            "confirm": VALUES,
        },
    ),
    "language": ("/language", {"language": st.sampled_from(["en", "ja", "xx"]), "next": TEXT}),
    "sign-out": ("/sign-out", {}),
}
CSRF = st.sampled_from(
    ["right", "right", "right", "missing", "empty", "wrong", "visitor's", "twice", "odd"]
)
COOKIES = st.sampled_from(["signed in", "signed in", "visitor", "forged", "none"])
BODIES = st.sampled_from(["urlencoded", "urlencoded", "multipart", "no content type"])


def _field(name: str, value: str) -> str:
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    return f"{quote(name)}={encoded}"


def _multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "fuzzboundary7MA4YWxk"
    parts = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8", "surrogatepass")
            + b"\r\n"
        )
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _session(fuzz: Fuzz, who: str | None) -> tuple[str, str]:
    """A session cookie and its CSRF token: a visitor's, or signed in through the form."""
    page = await fuzz.send("GET", "/sign-in")
    cookie = page.cookies[_COOKIE]
    token = _CSRF.search(page.content)
    assert token is not None, page.text
    if who is None:
        return cookie, token[1].decode()
    form = f"csrf={token[1].decode()}&email={quote(email(who))}&password={quote(PASSWORD)}"
    signed = await fuzz.send(
        "POST",
        "/sign-in",
        headers={
            "cookie": f"{_COOKIE}={cookie}",
            "content-type": "application/x-www-form-urlencoded",
        },
        body=form.encode(),
    )
    assert signed.status_code == 303, signed.text
    cookie = signed.cookies[_COOKIE]
    page = await fuzz.send("GET", "/settings/tokens", headers={"cookie": f"{_COOKIE}={cookie}"})
    token = _CSRF.search(page.content)
    assert token is not None, page.text
    return cookie, token[1].decode()


async def _setup(fuzz: Fuzz) -> dict[str, tuple[str, str]]:
    return {"signed in": await _session(fuzz, "other"), "visitor": await _session(fuzz, None)}


@FUZZ
@given(data=st.data())
def test_forms(open_surface: Any, data: st.DataObject) -> None:
    fuzz: Fuzz = open_surface("ui-forms")
    if "sessions" not in fuzz.extra:
        fuzz.extra["sessions"] = fuzz.run(_setup(fuzz))
    sessions: dict[str, tuple[str, str]] = fuzz.extra["sessions"]
    form = data.draw(st.sampled_from(sorted(FORMS)), label="form")
    path, fields = FORMS[form]
    values: list[tuple[str, str]] = []
    for name, values_of in fields.items():
        if data.draw(st.integers(0, 9), label=f"{name} present") == 0:
            continue  # missing
        for _ in range(data.draw(st.sampled_from([1, 1, 1, 2]), label=f"{name} count")):
            values.append((name, data.draw(values_of, label=name)))
    cookie_kind = data.draw(COOKIES, label="cookie")
    if form == "sign-out" and cookie_kind == "signed in":
        cookie_kind = "visitor"  # the fuzzing's own session stays signed in
    csrf_kind = data.draw(CSRF, label="csrf")
    own = sessions.get(cookie_kind, sessions["visitor"])[1]
    csrf = {
        "right": [own],
        "missing": [],
        "empty": [""],
        "wrong": [own[:-2] + "xx"],
        "visitor's": [sessions["visitor"][1] if cookie_kind != "visitor" else "x"],
        "twice": [own[::-1], own],
        "odd": [data.draw(TEXT, label="csrf text")],
    }[csrf_kind]
    values = [*(("csrf", c) for c in csrf), *values]
    if data.draw(st.booleans(), label="shuffle"):
        values.reverse()
    body_kind = data.draw(BODIES, label="body")
    fuzz.run(_case(fuzz, sessions, form, path, values, cookie_kind, csrf_kind, body_kind))


async def _case(
    fuzz: Fuzz,
    sessions: dict[str, tuple[str, str]],
    form: str,
    path: str,
    values: list[tuple[str, str]],
    cookie_kind: str,
    csrf_kind: str,
    body_kind: str,
) -> None:
    headers: dict[str, str] = {}
    if cookie_kind in sessions:
        headers["cookie"] = f"{_COOKIE}={sessions[cookie_kind][0]}"
    elif cookie_kind == "forged":
        body, _, signature = sessions["signed in"][0].partition(".")
        headers["cookie"] = f"{_COOKIE}={body[:-4]}AAAA.{signature}"
    if form == "revoke":
        found = await fuzz.ctx.db.fetchall(
            "SELECT t.id FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE u.email = :e AND t.revoked_at IS NULL ORDER BY t.created_at DESC LIMIT 1",
            {"e": email("other")},
        )
        path = path.replace("TOKEN", found[0]["id"] if found else "0" * 12)
    if body_kind == "multipart":
        body, headers["content-type"] = _multipart(values)
    else:
        body = "&".join(_field(name, value) for name, value in values).encode()
        if body_kind == "urlencoded":
            headers["content-type"] = "application/x-www-form-urlencoded"
    before = await fuzz.state()
    response = await fuzz.send("POST", path, headers=headers, body=body)
    after = await fuzz.state()
    fuzz.refused_left_nothing(before, after, response, f"({form})")
    may_pass = csrf_kind in ("right", "twice") and cookie_kind in ("signed in", "visitor")
    if not may_pass:
        changed = before.new_in(after) or before.gone_in(after)
        assert not changed, f"{form} without its CSRF token ({csrf_kind}) changed {changed}"
    await fuzz.check()
