"""A small threaded HTTP server on 127.0.0.1 for tests that fetch, and canned documents to serve.

Example::

    pages = Route(html_page("Hello", "Some text."))
    with serve({"/robots.txt": robots_txt("/private/"), "/hello": pages}) as base_url:
        ...  # fetch f"{base_url}/hello"
    assert pages.hits == 1

A route is a :class:`Route` (its replies are served in order and the last one repeats, so a route
can fail a few times and then succeed; every request is recorded), or, for short, a single
:class:`Reply`, ``str`` or ``bytes``. Unknown paths get 404. A route is looked up by the full
path with query first, then by the path alone. Every reply closes its connection and
the server joins its handler threads on exit, so no thread outlives the ``with`` block.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape as escape_html
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as escape_xml

_CHUNK_BYTES = 1024


@dataclass(frozen=True)
class Reply:
    """One HTTP response.

    Attributes:
        body: The payload; ``str`` is sent as UTF-8.
        status: The HTTP status.
        content_type: The Content-Type header, or None to send none.
        headers: Extra headers; a Content-Length given here replaces the real one.
        delay_s: Seconds to wait before answering (cut short when the server stops).
        chunked: Send the body in chunked encoding, without Content-Length.
        cut_after: Send only this many bytes of the body (headers still announce all of it),
            wait `stall_s`, then drop the connection: a mid-body disconnect or a stalled body.
        stall_s: Seconds to wait before dropping a cut body (cut short when the server stops).
    """

    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunked: bool = False
    cut_after: int | None = None
    stall_s: float = 0.0

    @property
    def payload(self) -> bytes:
        """The body as bytes."""
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class RecordedRequest:
    """A request a route received: its path (with query) and headers (names lower-cased)."""

    path: str
    headers: dict[str, str]


class Route:
    """Replies served in order, the last repeating; records every request it gets."""

    def __init__(self, *replies: Reply) -> None:
        if not replies:
            raise ValueError("a Route needs at least one Reply")
        self._replies = replies
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []

    @property
    def hits(self) -> int:
        """How many requests reached this route."""
        with self._lock:
            return len(self.requests)

    def answer(self, request: RecordedRequest) -> Reply:
        """Record `request` and pick the reply for it."""
        with self._lock:
            reply = self._replies[min(len(self.requests), len(self._replies) - 1)]
            self.requests.append(request)
        return reply


RouteSpec = Route | Reply | str | bytes

_NOT_FOUND = Reply("not found", status=404, content_type="text/plain; charset=utf-8")


def _as_route(spec: RouteSpec) -> Route:
    """`spec` as a Route."""
    if isinstance(spec, Route):
        return spec
    return Route(spec if isinstance(spec, Reply) else Reply(spec))


class _Server(ThreadingHTTPServer):
    """Serves `routes`; `stopping` is set on shutdown to cut delayed replies short."""

    # Join handler threads on close, so that a test leaves no thread behind.
    daemon_threads = False
    block_on_close = True

    def __init__(self, routes: Mapping[str, RouteSpec]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.stopping = threading.Event()

    def route_for(self, path: str) -> Route | None:
        """The route of the full path, else of the path without query, else None."""
        spec = self.routes.get(path) or self.routes.get(urlsplit(path).path)
        return None if spec is None else _as_route(spec)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients under test hang up early on purpose (size limits, timeouts): not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Answers GET requests from the server's routes."""

    protocol_version = "HTTP/1.1"  # chunked replies need HTTP/1.1
    timeout = 5  # a client that connects and never sends must not hold up shutdown for long
    server: _Server

    def do_GET(self) -> None:
        """Answer from the route of the path, or 404."""
        route = self.server.route_for(self.path)
        if route is None:
            reply = _NOT_FOUND
        else:
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = route.answer(RecordedRequest(self.path, headers))
        if reply.delay_s and self.server.stopping.wait(reply.delay_s):
            return  # the server is stopping; the client has given up long ago
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        """Write `reply`, then close the connection."""
        payload = reply.payload
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in {name.lower() for name in reply.headers}:
            self.send_header("Content-Length", str(len(payload)))
        # One request per connection: no idle keep-alive thread delays shutdown.
        self.send_header("Connection", "close")
        self.end_headers()
        limit = len(payload) if reply.cut_after is None else reply.cut_after
        if not reply.chunked:
            self.wfile.write(payload[:limit])
        else:
            for start in range(0, limit, _CHUNK_BYTES):
                chunk = payload[start : min(start + _CHUNK_BYTES, limit)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if reply.cut_after is None:
                self.wfile.write(b"0\r\n\r\n")
        if reply.cut_after is not None:
            self.wfile.flush()
            self.server.stopping.wait(reply.stall_s)
            self.close_connection = True  # hang up with the body unfinished

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: test output is for failures."""


@contextmanager
def serve(routes: Mapping[str, RouteSpec]) -> Iterator[str]:
    """Serve `routes` (path -> route) on 127.0.0.1 in a background thread.

    `routes` is read on every request, so a test may fill it once it knows the base URL (for
    documents such as sitemaps that must hold absolute URLs).

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash).
    """
    server = _Server(routes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


# Canned documents.


def html_page(title: str, text: str) -> Reply:
    """An HTML article with a title and one paragraph per blank-line-separated block of `text`."""
    paragraphs = "".join(f"<p>{escape_html(block)}</p>" for block in text.split("\n\n"))
    return Reply(
        f"<!DOCTYPE html><html><head><title>{escape_html(title)}</title></head>"
        f"<body><article><h1>{escape_html(title)}</h1>{paragraphs}</article></body></html>"
    )


def robots_txt(*disallow: str, user_agent: str = "*") -> Reply:
    """A robots.txt disallowing the `disallow` path prefixes for `user_agent`."""
    rules = "".join(f"Disallow: {path}\n" for path in disallow)
    return Reply(f"User-agent: {user_agent}\n{rules}", content_type="text/plain; charset=utf-8")


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to `location`."""
    return Reply(status=status, headers={"Location": location}, content_type=None)


def _xml(document: str, content_type: str) -> Reply:
    """An XML reply with declaration."""
    return Reply(f'<?xml version="1.0" encoding="UTF-8"?>\n{document}', content_type=content_type)


def sitemap(urls: Iterable[str]) -> Reply:
    """A sitemap (urlset) listing `urls`."""
    entries = "".join(f"<url><loc>{escape_xml(url)}</loc></url>" for url in urls)
    return _xml(
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>',
        "application/xml",
    )


def sitemap_index(sitemap_urls: Iterable[str]) -> Reply:
    """A sitemap index listing the child sitemaps `sitemap_urls`."""
    entries = "".join(f"<sitemap><loc>{escape_xml(url)}</loc></sitemap>" for url in sitemap_urls)
    return _xml(
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
        "</sitemapindex>",
        "application/xml",
    )


def rss_feed(urls: Iterable[str]) -> Reply:
    """An RSS 2.0 feed with one item per URL."""
    items = "".join(
        f"<item><title>Item {n}</title><link>{escape_xml(url)}</link></item>"
        for n, url in enumerate(urls)
    )
    return _xml(
        f'<rss version="2.0"><channel><title>Feed</title>{items}</channel></rss>',
        "application/rss+xml",
    )


def atom_feed(hrefs: Iterable[str]) -> Reply:
    """An Atom feed with one entry per href (which may be relative)."""
    entries = "".join(
        f'<entry><title>Entry {n}</title><link rel="alternate" href="{escape_xml(href)}"/>'
        f'<link rel="edit" href="/edit/{n}"/></entry>'
        for n, href in enumerate(hrefs)
    )
    return _xml(
        f'<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title>{entries}</feed>',
        "application/atom+xml",
    )


# Expands to 10**9 "lol"s (about 3 GB) in a parser that expands entities.
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol9;</loc></url></urlset>
"""

# Reads a local file into the document in a parser that resolves external entities (XXE).
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&secret;</loc></url></urlset>
"""
