"""Daphne: request bodies reach the application as the client sent them, unparsed by Twisted.

Twisted's `Request.requestReceived` parses the Content-Type of every POST with the `email`
package and decodes urlencoded and multipart bodies into `request.args`, which daphne never
reads (it hands the raw body to the ASGI application): about 0.3 ms of every POST with a body
on this kind of machine, before the application even starts. Worse, a multipart body Twisted
cannot parse is answered by Twisted itself with a bare `400 Bad Request`, so the API's error
envelope was never sent. Twisted's own switch (`parsePOSTFormSubmission`) turns that off; Django
parses what a view asks for and answers bad bodies with the envelope.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Patch daphne's request class once per process (daphne's server only)."""
    global _installed
    if _installed:
        return
    _installed = True
    from daphne.http_protocol import WebRequest

    init = WebRequest.__init__

    def raw_body_init(self: WebRequest, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = raw_body_init  # type: ignore[method-assign]
