"""Which hosts the server may call at URLs its users give: webhooks, load tests, replays, HTTP models.

A server that calls any URL a caller names can be turned on the network behind it (server-side request
forgery): a webhook pointed at an internal admin endpoint, a load test at a database's HTTP port.
`PHASEGATE_OUTBOUND_HOSTS` (a JSON list, e.g. `["models.internal", "*.example.com", "127.0.0.1"]`)
names the hosts allowed; a pattern `*.example.com` covers the subdomains of example.com, not
example.com itself. Unset, any host is allowed, which suits one team's own machine; set it on a shared
server. Each door checks a URL when it is given, naming the field; webhooks are checked again when sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from phasegate.errors import InvalidInput, Problem

VARIABLE = "PHASEGATE_OUTBOUND_HOSTS"


def host_of(url: str) -> str | None:
    """The URL's host name, lower case, or None when it has none."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def allows(url: str, allowed: Sequence[str] | None) -> bool:
    """Whether the server may call the URL: any when the list is unset, else its host must be listed."""
    if allowed is None:
        return True
    host = host_of(url)
    return host is not None and any(_matches(host, pattern.lower()) for pattern in allowed)


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def problem(url: str, allowed: Sequence[str] | None, *, field: str) -> Problem | None:
    """What is wrong with calling the URL, naming the field; None when the allow-list permits it."""
    if allows(url, allowed):
        return None
    listed = ", ".join(allowed or [])
    return Problem(f"'{host_of(url) or url}' is not in {VARIABLE} ({listed})", field=field)


def check(url: str, allowed: Sequence[str] | None, *, field: str) -> None:
    """Refuse a URL whose host the allow-list does not name; the problem names the field."""
    found = problem(url, allowed, field=field)
    if found is not None:
        raise InvalidInput("the server does not call that host", [found])
