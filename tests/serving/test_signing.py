"""Deliveries signed the Standard Webhooks way, verified by that scheme's own library."""

from __future__ import annotations

import pandas as pd
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.alerts import queue_late

from cli.demo.receiver import WebhookReceiver
from serving.alerts import AlertStore, Sender
from serving.alerts.signing import key_of, new_secret
from serving.settings import Settings, SettingsError

pytestmark = pytest.mark.serving

NOW = pd.Timestamp.now(tz="UTC")


def test_every_delivery_verifies_with_the_standard_library(tmp_path):
    secret = new_secret()
    with AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}") as store, WebhookReceiver() as rx:
        keys = queue_late(store, [f"SIG-{i}" for i in range(12)], NOW + pd.Timedelta(days=1), NOW)
        with Sender.for_url(store, rx.url, secret=secret) as sender:
            assert sender.run_once() == 12
        verifier = Webhook(secret)
        for request in rx.requests:
            payload = verifier.verify(request.raw, request.headers)
            assert payload["type"] == "shipment.at_risk"
            assert payload["data"]["key"] == request.headers["webhook-id"] == request.key
        assert sorted(r.key for r in rx.requests) == sorted(keys)
        # A body changed on the way, or another secret, fails verification.
        first = rx.requests[0]
        with pytest.raises(WebhookVerificationError):
            verifier.verify(first.raw.replace(b"SIG-", b"SIX-"), first.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(first.raw, first.headers)


def test_unsigned_without_a_secret(tmp_path):
    with AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}") as store, WebhookReceiver() as rx:
        queue_late(store, ["PLAIN-1"], NOW + pd.Timedelta(days=1), NOW)
        with Sender.for_url(store, rx.url) as sender:
            sender.run_once()
        assert "webhook-signature" not in rx.requests[0].headers


def test_a_malformed_secret_is_refused_by_name_not_value():
    with pytest.raises(ValueError, match="Standard Webhooks"):
        key_of("whsec_not-base64!!")
    with pytest.raises(SettingsError) as refused:
        Settings.load({"STALLGUARD_WEBHOOK_SECRET": "whsec_c2hvcnQ="})
    assert "STALLGUARD_WEBHOOK_SECRET" in str(refused.value)
    assert "c2hvcnQ" not in str(refused.value)
