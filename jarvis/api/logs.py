"""Keep secrets out of the server's logs.

uvicorn's access log prints each request's path *with its query string*, and its WebSocket
log prints the URL it accepted; a client that puts a key or token in a URL (which we refuse,
but cannot stop it sending) would otherwise have it written to disk. :class:`RedactSecrets`
rewrites such values, and anything shaped like one of our API keys, before a record is
formatted. :func:`install` puts it on uvicorn's loggers; call it after uvicorn configured
logging (``uvicorn.Config`` does so when created).
"""

from __future__ import annotations

import logging
import re

#: Query parameters whose values are secrets, whatever the route.
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:api[_-]?key|x-api-key|key|token|access_token|password|secret)=)[^&;#\s\"']*")
#: Our keys (``jm_<prefix>_<secret>``): the prefix is kept (it identifies, it does not authenticate).
_API_KEY = re.compile(r"\b(jm_[0-9a-f]{12}_)[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"
UVICORN_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def redact(text: str) -> str:
    """*text* with secret query values and API keys replaced."""
    return _API_KEY.sub(rf"\1{REDACTED}", _SECRET_PARAM.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments (uvicorn formats the path from them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install() -> None:
    """Put :class:`RedactSecrets` on uvicorn's loggers (once: calling again is harmless)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
