"""The one home of the ``apprise`` package: sending one message to one target URL.

Imported only when a notification is sent (``runner.notify``), so that everyday shell
commands never load apprise and its plugins.
"""

from __future__ import annotations

__all__ = ["send"]


def send(url: str, title: str, body: str) -> bool:
    """Send ``title`` and ``body`` to ``url`` (any Apprise URL); False when the URL is
    not understood or the target refused or could not be reached."""
    import logging

    import apprise

    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its messages quote URLs
    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(sender.notify(body=body, title=title))
