"""Telling a caller that a held answer was released: a POST to the webhook it gave, off the request path.

Best effort with a few retries: the released answer also waits at the results URL, so a missed
webhook costs the caller a poll, not the answer.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from phasegate.rollout.models import ReviewItem

ATTEMPTS = 3
log = logging.getLogger(__name__)


def notify(item: ReviewItem) -> threading.Thread | None:
    """POST the decision to the item's webhook in a background thread; None when there is no webhook."""
    if not item.webhook_url or item.status == "pending":
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
