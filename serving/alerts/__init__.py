"""Alerts: the policy (pure), the store and outbox (SQL), the channels and the sender."""

from serving.alerts.channels import Channel, Delivery, WebhookChannel
from serving.alerts.policy import (
    Alert,
    AlertKind,
    AlertPolicy,
    Renderer,
    Scored,
    eta_changed_key,
    late_key,
)
from serving.alerts.registry import CHANNELS, channel_for
from serving.alerts.sender import Sender, shipment_hash
from serving.alerts.store import (
    DEAD,
    DELIVERED,
    PARKED,
    PENDING,
    STATUSES,
    AlertStore,
    OutboxRow,
    Outcome,
)

__all__ = [
    "CHANNELS",
    "DEAD",
    "DELIVERED",
    "PARKED",
    "PENDING",
    "STATUSES",
    "Alert",
    "AlertKind",
    "AlertPolicy",
    "AlertStore",
    "Channel",
    "Delivery",
    "OutboxRow",
    "Outcome",
    "Renderer",
    "Scored",
    "Sender",
    "WebhookChannel",
    "channel_for",
    "eta_changed_key",
    "late_key",
    "shipment_hash",
]
