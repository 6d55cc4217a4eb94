"""Telling a caller that a held answer was released: a POST to the webhook it gave, off the request path.

Best effort with a few retries: the released answer also waits at the results URL, so a missed
webhook costs the caller a poll, not the answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import httpx

from phasegate import outbound
from phasegate.rollout.models import ReviewItem

ATTEMPTS = 3
log = logging.getLogger(__name__)


def notify(item: ReviewItem, *, allowed: Sequence[str] | None) -> threading.Thread | None:
    """POST the decision to the item's webhook in a background thread; None when there is no webhook.

    The host was checked against the outbound allow-list when the caller gave it; it is checked again
    here, as the list may have changed since.
    """
    if not item.webhook_url or item.status == "pending":
        return None
    if not outbound.allows(item.webhook_url, allowed):
        log.warning(
            "webhook of %s not sent: %s is not an allowed host", item.id, outbound.host_of(item.webhook_url)
        )
        return None
    body = {"request_id": item.id, "status": item.status, "output": item.released}
    thread = threading.Thread(target=_send, args=(item.webhook_url, body), daemon=True)
    thread.start()
    return thread


def _send(url: str, body: dict[str, object]) -> None:
    for attempt in range(ATTEMPTS):
        try:
            response = httpx.post(url, json=body, timeout=5.0)
            if response.status_code < 500:
                return
        except httpx.HTTPError as exc:
            # The URL may carry a token; log only its host.
            log.warning("webhook to %s failed: %s", httpx.URL(url).host, type(exc).__name__)
        time.sleep(0.5 * 2**attempt)
