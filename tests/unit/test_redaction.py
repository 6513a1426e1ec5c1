"""No secret, URL credential, bearer token or phone number survives into a log line."""

import io
import logging

from serving.redaction import install, redact


def test_redact_masks_what_must_not_be_logged_and_leaves_the_rest():
    install(["hook-s3cret-value"])
    assert redact("POST http://user:pa55@hooks.example:8443/a") == (
        "POST http://***@hooks.example:8443/a"
    )
    assert redact("Authorization: bearer abc.def-ghi") == "Authorization: bearer ***"
    assert redact("call 010-1234-5678 or +82 10 9876 5432") == "call *** or ***"
    assert redact("token=hook-s3cret-value;") == "token=***;"
    ordinary = (
        "2025-12-01 10:00:00 POST /predict 200 12.5ms key LATE-2930f69f3469 at 127.0.0.1:3000"
    )
    assert redact(ordinary) == ordinary


def test_every_logger_and_traceback_is_redacted():
    install(["db-pa55word"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    try:
        logger.warning("connecting to %s", "postgresql://app:db-pa55word@db/outbox")
        try:
            raise ValueError("bad phone 010-2222-3333 for the parcel")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "db-pa55word" not in text and "010-2222-3333" not in text
    assert "postgresql://***@db/outbox" in text and "ValueError: bad phone *** for" in text
