"""The console's sign-in: an API key sealed into an httpOnly, SameSite=Strict cookie.

A browser cannot be trusted to keep an API key in page script (any injected script could read
it), and a key in a URL ends up in logs and history. So the key the operator types is checked
once (:func:`jarvis.api.keycheck.check_key`, the API's own check), then sealed with AES-256-GCM
under ``JARVIS_CONSOLE_SESSION_KEY`` (generated into the local secrets like the others) together
with an expiry and a random CSRF token, and set as a cookie script cannot read. The cookie is
never the key in clear: without the server's secret it opens to nothing.

:class:`ConsoleSession`, an ASGI middleware, opens the cookie on the API's own paths and hands
the key to the routes as the ``X-API-Key`` header, so every console request goes through the
same routes, the same key check (revocation, rate limit), scopes and principal as any client:
there is no console-only way in. A request that carries a header key itself is left alone.

Cross-site requests: the cookie is SameSite=Strict (a browser does not send it from another
site), and on top of that a request that changes something (not GET/HEAD/OPTIONS) must carry
the session's CSRF token in ``X-CSRF-Token`` and, if it has an ``Origin``, come from this host;
a WebSocket handshake must come from this host (browsers always send its ``Origin``).

Signing out clears the cookie; a copied cookie stays valid until it expires
(:data:`SESSION_SECONDS`) or its key is revoked (then within ``AUTH_CACHE_SECONDS``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse

COOKIE = "jarvis_console"
SESSION_SECONDS = 8 * 3600
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Where the cookie stands in for the X-API-Key header: the API's routes, never /mcp.
KEYED_PATHS = ("/api/v1/", "/console/api/", "/metrics", "/health")
_AAD = b"jarvis-console-session-v1"
_NONCE = 12


@dataclass(frozen=True, slots=True)
class Session:
    api_key: str
    csrf: str
    expires: float


class SessionSeal:
    """Seals and opens session cookies with one server secret."""

    def __init__(self, secret: SecretStr | None) -> None:
        raw = secret.get_secret_value().encode() if secret is not None else b""
        if not raw:  # no configured secret: sessions last as long as this process
            raw = os.urandom(32)
        self._aead = AESGCM(hashlib.sha256(b"jarvis-console-session\x00" + raw).digest())

    def seal(self, api_key: str, *, now: float | None = None) -> tuple[str, Session]:
        session = Session(
            api_key=api_key,
            csrf=secrets.token_urlsafe(24),
            expires=(time.time() if now is None else now) + SESSION_SECONDS,
        )
        nonce = os.urandom(_NONCE)
        plain = json.dumps({"k": session.api_key, "c": session.csrf, "e": session.expires}).encode()
        value = base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plain, _AAD)).decode().rstrip("=")
        return value, session

    def open(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in *value*; None if it is absent, altered, sealed by another secret or expired."""
        if not value or len(value) > 4096:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            fields = json.loads(self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AAD))
            session = Session(api_key=str(fields["k"]), csrf=str(fields["c"]), expires=float(fields["e"]))
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (time.time() if now is None else now) else None


def same_origin(headers: Headers) -> bool:
    """Whether the request's ``Origin`` (if any) names the host it was sent to."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return bool(origin != "null" and urlsplit(origin).netloc and urlsplit(origin).netloc == headers.get("host"))


def session_of(headers: Headers, seal: SessionSeal) -> Session | None:
    return seal.open(cookie_parser(headers.get("cookie", "")).get(COOKIE))


class ConsoleSession:
    """Pure ASGI middleware: a signed-in browser's cookie becomes the request's X-API-Key."""

    def __init__(self, app, *, seal: SessionSeal) -> None:
        self.app, self.seal = app, seal

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(KEYED_PATHS):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        session = None if "x-api-key" in headers else session_of(headers, self.seal)
        if session is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            if headers.get("origin") is None or not same_origin(headers):
                return await self.app(scope, receive, send)  # no key handed over: the socket closes 4401
        elif scope["method"] not in SAFE_METHODS:
            token = headers.get(CSRF_HEADER, "")
            if not same_origin(headers) or not hmac.compare_digest(token.encode(), session.csrf.encode()):
                refused = JSONResponse(
                    {
                        "error": {
                            "code": "csrf",
                            "field": CSRF_HEADER,
                            "message": "a console request that changes something needs the session's "
                            "X-CSRF-Token header and this site's Origin",
                        }
                    },
                    status_code=403,
                )
                return await refused(scope, receive, send)
        keyed = {**scope, "headers": [*scope["headers"], (b"x-api-key", session.api_key.encode())]}
        return await self.app(keyed, receive, send)
