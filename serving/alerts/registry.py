"""The alert channels, by the scheme of the delivery URL (`STALLGUARD_WEBHOOK_URL`, `--webhook`).

A new channel is one module with a class shaped like `WebhookChannel` (serving/alerts/channels.py)
and one line in `CHANNELS` (docs/architecture.md has a worked example).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from serving.alerts.channels import Channel, WebhookChannel

# A channel from (delivery URL, bearer token, timeout in seconds, signing secret).
ChannelFactory = Callable[[str, str | None, float, str | None], Channel]

# Channels by the scheme of the delivery URL.
CHANNELS: dict[str, ChannelFactory] = {
    "http": WebhookChannel,
    "https": WebhookChannel,
}


def channel_for(
    url: str, token: str | None = None, timeout: float = 5.0, secret: str | None = None
) -> Channel:
    """The registered channel for `url`'s scheme.

    Raises:
        ValueError: No channel for that scheme (the message lists the registered ones).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in CHANNELS:
        raise ValueError(
            f"no alert channel for {scheme or 'a URL without a scheme'!r}; "
            f"registered: {', '.join(CHANNELS)}"
        )
    return CHANNELS[scheme](url, token, timeout, secret)
