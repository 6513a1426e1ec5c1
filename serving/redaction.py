"""Keep secrets and personal data out of every log line the process writes.

`install` wraps the logging record factory, so it covers every logger (ours, BentoML's,
uvicorn's, httpx's) whatever handlers they use: a record's message, once formatted, has the
configured secret values, URL credentials, bearer tokens and phone numbers replaced by `***`,
and so has the traceback text of a logged exception. httpx's per-request INFO lines (which
name every URL) are turned off. The request models keep input values out of validation
errors in the first place (serving/schemas.py); this is the net under that.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s,;'\"]+")
# Phone numbers as people write them: 010-1234-5678, +82 10 1234 5678, (11) 91234-5678.
_PHONE = re.compile(r"(?<![\w.:-])(?:\+\d{1,3}[ -]?)?\(?\d{2,3}\)?[ .-]?\d{3,5}[ .-]\d{4}(?![\w:])")

_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """`text` with secrets, URL credentials, bearer tokens and phone numbers masked."""
    for secret in _secrets:
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    return _PHONE.sub(MASK, text)


def install(secrets: Iterable[str | None] = ()) -> None:
    """Redact every log record of this process from now on; remember `secrets` to mask.

    Safe to call more than once (secrets accumulate; the factory is wrapped once).
    """
    global _installed
    _secrets.update(s for s in secrets if s and len(s) >= 4)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; leave it to logging's own error path
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text.rstrip("\n"))
            record.exc_info = None  # the redacted text above is what handlers print
        return record

    logging.setLogRecordFactory(redacting_record)
