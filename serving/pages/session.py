"""Signing in to the pages: the API token, typed once, kept as a session cookie.

A browser cannot send a bearer header on a plain link, so the pages take the same token
through a sign-in form and answer with a cookie. The cookie holds an HMAC of the token, never
the token: it opens the pages and their refresh poll, and is worthless anywhere else (the API
still wants the bearer token). HttpOnly (no script reads it) and SameSite=Strict (no other
site's page can send it).
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie

COOKIE = "stallguard_session"
_PURPOSE = b"stallguard-pages-session-v1"


def session_value(token: str) -> str:
    """The cookie's value for `token`."""
    return hmac.new(token.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def set_cookie_header(token: str) -> str:
    """The Set-Cookie header that signs a browser in."""
    return f"{COOKIE}={session_value(token)}; HttpOnly; SameSite=Strict; Path=/"


def signed_in(cookie_header: str, token: str) -> bool:
    """Whether a request's Cookie header carries a valid session for `token`."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed Cookie header signs nobody in
        return False
    given = jar.get(COOKIE)
    return given is not None and hmac.compare_digest(given.value, session_value(token))


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/ops"
    return target
