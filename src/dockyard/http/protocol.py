"""The HTTP/1.1 protocol workers speak: uvicorn's httptools protocol, drained gently when a
worker stops.

uvicorn closes every idle connection the moment a worker begins to stop. A connection that the
worker accepted an instant earlier, whose request is still on its way, is idle too: its client
sees the connection close without a response (the fault a rolling update must not have, since the
other workers share the listening socket and would have answered). Here an idle connection gets
``DRAIN_SECONDS`` for a request to arrive; one that does is answered with ``Connection: close``.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DRAIN_SECONDS = 0.5
"""Far longer than a client takes to send its request after connecting; short enough not to
slow a roll."""


class DrainingProtocol(HttpToolsProtocol):
    draining = False

    def shutdown(self) -> None:
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()
