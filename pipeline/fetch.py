"""Polite, safe HTTP fetching with a raw-response cache, and sitemap/feed discovery.

The ingest stage reads web articles through :class:`Fetcher`, which

1. refuses every scheme but http(s), and, unless ``fetch.allow_private_hosts`` is set, every host
   that is or resolves to a loopback, private, link-local, reserved or unspecified address;
2. obeys robots.txt per origin and waits ``fetch.per_host_delay_s`` between requests to a host;
3. follows redirects itself, so that every hop passes the same checks;
4. retries 429, 5xx and connect/read failures with exponential backoff, honouring Retry-After;
5. streams the body and stops past ``fetch.max_body_bytes``, and refuses content types that are
   not in ``fetch.allowed_content_types``.

Cache policy: the raw response of every successful fetch, and of a definitive 404 or 410, is stored
under ``cache_dir`` as ``<sha256(url)>.body`` plus a ``<sha256(url)>.json`` sidecar (url, final_url,
status, headers, fetched_at, error, body_bytes), each written atomically. A later fetch of that URL
is answered from the cache without touching the network, so re-running a stage is offline and gives
the same input; delete the files to fetch again. Nothing else is cached (5xx, 429, timeouts,
refusals, oversized or disallowed bodies), so a later run tries those again.

The stored body is the decoded payload (any Content-Encoding undone), so the size limit also bounds
decompression bombs. Network problems never raise: they come back as a :class:`FetchResult` whose
``error`` says why in one line.

Known gap: the private-host check resolves the name before httpx resolves it again, so a DNS server
that changes its answer in between (DNS rebinding) is not caught.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json
import logging
import os
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeElementTree
import httpx
from defusedxml import DefusedXmlException

from pipeline.config import FetchConfig

_log = logging.getLogger(__name__)
_SCHEMES = ("http", "https")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# The resource is gone: asking again later will not help, so these are cached like successes.
_DEFINITIVE_STATUSES = frozenset({404, 410})
# Headers about the transfer rather than the stored body, which is already decoded and complete.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class UnsafeXMLError(ValueError):
    """An XML document declares entities or external references, which are never expanded."""


@dataclass(frozen=True)
class FetchResult:
    """The outcome of fetching one URL.

    Attributes:
        url: The URL asked for.
        final_url: The URL after redirects.
        status: The last HTTP status, or None if no response came.
        headers: Response headers of the last response, names lower-cased.
        body: The decoded body, or None when unusable.
        fetched_at: ISO-8601 UTC time of the network fetch (kept from the cache on cache hits).
        from_cache: Whether the result was read from the cache.
        error: None on success, else a one-line reason such as ``"HTTP 404"``.
    """

    url: str
    final_url: str
    status: int | None
    headers: dict[str, str]
    body: bytes | None
    fetched_at: str
    from_cache: bool
    error: str | None

    @property
    def ok(self) -> bool:
        """Whether the fetch succeeded with a usable body."""
        return self.error is None and self.body is not None


@dataclass(frozen=True)
class _Response:
    """One HTTP exchange, or the failure to have one."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None
    retryable: bool = False


@dataclass(frozen=True)
class _Links:
    """The links of a sitemap or feed; those of a sitemap index point to further sitemaps."""

    urls: list[str]
    is_index: bool = False


class Fetcher:
    """Fetches URLs politely and safely, caching raw responses on disk.

    Use as a context manager, or call :meth:`close` when done.

    Args:
        cfg: The ``fetch`` section of the configuration.
        cache_dir: Folder for raw responses; created on first write.
        sleep: Waits the given seconds; injected so tests need not wait.
        clock: Monotonic seconds; used for the per-host delay and the body deadline.
    """

    def __init__(
        self,
        cfg: FetchConfig,
        cache_dir: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cfg = cfg
        self._cache = _ResponseCache(Path(cache_dir))
        self._sleep = sleep
        self._clock = clock
        self._last_request_at: dict[str, float] = {}
        self._robots: dict[str, tuple[RobotFileParser, str | None]] = {}
        self._client = httpx.Client(
            headers={"User-Agent": cfg.user_agent, "Accept": ", ".join(cfg.allowed_content_types)},
            timeout=cfg.timeout_s,
            follow_redirects=False,
            # No proxy or .netrc from the environment: a proxy would resolve hosts behind the
            # private-host check, and .netrc would send credentials to whatever site we crawl.
            trust_env=False,
        )

    @property
    def config(self) -> FetchConfig:
        """The ``fetch`` settings this fetcher runs with."""
        return self._cfg

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def fetch(self, url: str) -> FetchResult:
        """Fetch `url` from the cache, or else from the network, caching what is worth keeping.

        Raises:
            TypeError: `url` is not a string.
        """
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        cached = self._cache.load(url)
        if cached is not None:
            return cached
        result = self._fetch_network(url)
        if result.ok or result.status in _DEFINITIVE_STATUSES:
            try:
                self._cache.store(result)
            except OSError as exc:  # a full or read-only disk costs the cache entry, not the page
                _log.warning("could not cache %s: %s", url, exc)
        return result

    def _fetch_network(self, url: str, *, for_robots: bool = False) -> FetchResult:
        """Fetch `url`, following redirects and checking every hop.

        A robots.txt fetch (`for_robots`) skips the robots and content-type checks.
        """
        fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
        limit = self._cfg.max_redirects
        current, visited = url, {url}
        response = _Response()
        for _hop in range(limit + 1):
            refusal = self._refusal(current, check_robots=not for_robots)
            if refusal is not None:
                response = replace(response, error=refusal)
                break
            response = self._request_with_retries(current, check_type=not for_robots)
            if response.error is not None or response.status not in _REDIRECT_STATUSES:
                break
            location = response.headers.get("location")
            if not location:
                response = replace(response, error=f"HTTP {response.status} without Location")
                break
            current = urldefrag(urljoin(current, location)).url
            if current in visited:
                response = replace(
                    response, error=f"redirect loop/limit ({limit}) exceeded: {current} seen twice"
                )
                break
            visited.add(current)
        else:
            response = replace(response, error=f"redirect loop/limit ({limit}) exceeded")
        return FetchResult(
            url=url,
            final_url=current,
            status=response.status,
            headers=response.headers,
            body=response.body if response.error is None else None,
            fetched_at=fetched_at,
            from_cache=False,
            error=response.error,
        )

    def _refusal(self, url: str, *, check_robots: bool) -> str | None:
        """Why `url` must not be requested, or None if it may be."""
        refusal = _url_refusal(url, allow_private=self._cfg.allow_private_hosts)
        if refusal is None and check_robots and self._cfg.respect_robots:
            refusal = self._robots_refusal(url)
        return refusal

    def _robots_refusal(self, url: str) -> str | None:
        """Why robots.txt forbids `url`, or None if it allows it.

        The rules of each origin are fetched once per fetcher.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        if origin not in self._robots:
            fetched = self._fetch_network(f"{origin}/robots.txt", for_robots=True)
            self._robots[origin] = _robots_rules(fetched)
        rules, unavailable = self._robots[origin]
        if rules.can_fetch(self._cfg.user_agent, url):
            return None
        if unavailable is not None:
            return f"disallowed by robots.txt (robots.txt unavailable: {unavailable})"
        return "disallowed by robots.txt"

    def _request_with_retries(self, url: str, *, check_type: bool) -> _Response:
        """Request `url`, retrying with backoff the failures that may pass on another try."""
        attempts = self._cfg.max_retries + 1
        for attempt in range(attempts):
            self._wait_for_host(url)
            response = self._request_once(url, check_type=check_type)
            if not response.retryable:
                return response
            if attempt + 1 < attempts:
                self._sleep(self._retry_wait(response, attempt))
        if attempts > 1:
            response = replace(response, error=f"{response.error} (gave up after {attempts} tries)")
        return response

    def _wait_for_host(self, url: str) -> None:
        """Sleep until `per_host_delay_s` has passed since the last request to this host."""
        host = urlsplit(url).hostname or ""
        last = self._last_request_at.get(host)
        if last is not None:
            wait = self._cfg.per_host_delay_s - (self._clock() - last)
            if wait > 0:
                self._sleep(wait)
        self._last_request_at[host] = self._clock()

    def _retry_wait(self, response: _Response, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` + 1.

        Exponential backoff, or the server's Retry-After (capped) when that is longer.
        """
        backoff = self._cfg.backoff_base_s * 2**attempt
        retry_after = _retry_after_s(response.headers.get("retry-after"), datetime.now(UTC))
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self._cfg.max_retry_after_s))

    def _request_once(self, url: str, *, check_type: bool) -> _Response:
        """One GET of `url`; reads the body only of a 2xx response that passes the checks."""
        started = self._clock()
        try:
            with self._client.stream("GET", url) as response:
                status = response.status_code
                headers = {name.lower(): value for name, value in response.headers.items()}
                if status in _REDIRECT_STATUSES:
                    return _Response(status, headers)
                if not 200 <= status < 300:
                    retryable = status == 429 or status >= 500
                    return _Response(status, headers, error=f"HTTP {status}", retryable=retryable)
                refusal = _declared_size_refusal(headers, self._cfg.max_body_bytes)
                if refusal is None and check_type:
                    refusal = _content_type_refusal(headers, self._cfg.allowed_content_types)
                if refusal is not None:
                    return _Response(status, headers, error=refusal)
                body, error = self._read_body(response.iter_bytes(), started)
                stored = {k: v for k, v in headers.items() if k not in _TRANSFER_HEADERS}
                # A body cut off at the deadline may come in time on another try; one over the
                # size limit never will.
                return _Response(status, stored, body, error, retryable=error == self._timeout)
        except httpx.TimeoutException:
            return _Response(error=self._timeout, retryable=True)
        except httpx.TransportError as exc:
            return _Response(error=_one_line(f"{type(exc).__name__}: {exc}"), retryable=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # Undecodable content or a URL httpx cannot send: trying again gives the same.
            return _Response(error=_one_line(f"{type(exc).__name__}: {exc}"))

    @property
    def _timeout(self) -> str:
        """The error of a request that ran past `timeout_s`."""
        return f"timed out after {self._cfg.timeout_s}s"

    def _read_body(
        self, chunks: Iterable[bytes], started: float
    ) -> tuple[bytes | None, str | None]:
        """Collect `chunks` into the body, or stop with an error past the size or time limit.

        The whole-body deadline catches servers that drip bytes just within the read timeout.
        """
        limit = self._cfg.max_body_bytes
        collected: list[bytes] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                return None, _oversize_error(limit)
            if self._clock() - started > self._cfg.timeout_s:
                return None, self._timeout
            collected.append(chunk)
        return b"".join(collected), None


class _ResponseCache:
    """Raw responses on disk: a body file and a JSON sidecar per URL, named by sha256(url)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _paths(self, url: str) -> tuple[Path, Path]:
        """The body and sidecar paths of `url`."""
        stem = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self._dir / f"{stem}.body", self._dir / f"{stem}.json"

    def load(self, url: str) -> FetchResult | None:
        """The cached result of `url`, or None if absent or unreadable."""
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            body = None if meta["body_bytes"] is None else body_path.read_bytes()
            if body is not None and len(body) != meta["body_bytes"]:
                return None
            return FetchResult(
                url=url,
                final_url=meta["final_url"],
                status=meta["status"],
                headers=meta["headers"],
                body=body,
                fetched_at=meta["fetched_at"],
                from_cache=True,
                error=meta["error"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            # A missing or damaged entry is a miss: the URL is simply fetched again.
            return None

    def store(self, result: FetchResult) -> None:
        """Write `result`; the sidecar goes last, so a complete sidecar means a complete entry."""
        body_path, meta_path = self._paths(result.url)
        self._dir.mkdir(parents=True, exist_ok=True)
        if result.body is not None:
            _write_atomically(body_path, result.body)
        meta = {
            "url": result.url,
            "final_url": result.final_url,
            "status": result.status,
            "headers": result.headers,
            "fetched_at": result.fetched_at,
            "error": result.error,
            "body_bytes": None if result.body is None else len(result.body),
        }
        _write_atomically(meta_path, json.dumps(meta, indent=1).encode("utf-8"))


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why `url` must not be requested (scheme, malformed, private host), or None if it may be."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            return f"unsupported scheme {scheme or '(none)'}"
        host, port = parts.hostname, parts.port
    except ValueError:
        return f"malformed URL {url!r}"
    if not host:
        return f"malformed URL {url!r} (no host)"
    if allow_private:
        return None
    return _private_host_refusal(host, port or (443 if scheme == "https" else 80))


def _private_host_refusal(host: str, port: int) -> str | None:
    """Why `host` must not be contacted, or None if every address it resolves to is public.

    Literal IPs and names alike go through getaddrinfo, so 'localhost', '127.1' and names that
    resolve to internal addresses are all caught.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return _one_line(f"cannot resolve host {host}: {exc}")
    if infos and all(_is_public_address(info[4][0]) for info in infos):
        return None
    return f"refused private/loopback host {host} (set fetch.allow_private_hosts)"


def _is_public_address(address: str) -> bool:
    """Whether `address` is global unicast: not loopback, private, link-local, reserved, etc."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:a.b.c.d reaches a.b.c.d, so judge that (3.11 calls every mapped address reserved).
        ip = ip.ipv4_mapped
    # is_global alone lets multicast through in Python 3.11.
    return ip.is_global and not ip.is_multicast


def _robots_rules(fetched: FetchResult) -> tuple[RobotFileParser, str | None]:
    """Rules from a robots.txt fetch, and why the file was unavailable if it was.

    Without a file, RFC 9309 applies: a 4xx allows everything, while a server error or an
    unreachable server forbids everything.
    """
    parser = RobotFileParser()
    if fetched.ok:
        parser.parse(fetched.body.decode("utf-8", errors="replace").splitlines())
        return parser, None
    if fetched.status is not None and 400 <= fetched.status < 500:
        parser.allow_all = True
        return parser, None
    parser.disallow_all = True
    return parser, fetched.error


def _retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a Retry-After header (delay-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _declared_size_refusal(headers: dict[str, str], limit: int) -> str | None:
    """An error if Content-Length already says the body is over `limit` bytes."""
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        return _oversize_error(limit)
    return None


def _oversize_error(limit: int) -> str:
    """The error of a body over `limit` bytes."""
    return f"body over max_body_bytes ({limit})"


def _content_type_refusal(headers: dict[str, str], allowed: list[str]) -> str | None:
    """An error if the media type (parameters such as charset ignored) is not in `allowed`."""
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type in {kind.lower() for kind in allowed}:
        return None
    return f"content-type {media_type or '(missing)'} not allowed"


def _one_line(text: str) -> str:
    """`text` with all whitespace runs collapsed to single spaces."""
    return " ".join(text.split())


def _content_lines(text: str) -> list[str]:
    """The stripped lines of `text` that are neither blank nor '#' comments."""
    lines = (line.strip() for line in text.lstrip("\ufeff").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _is_http_url(text: str) -> bool:
    """Whether `text` is a single absolute http(s) URL with a host."""
    if any(char.isspace() for char in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in _SCHEMES and bool(parts.netloc)


def read_url_list(path: Path) -> list[str]:
    """The URLs of a URL-list file: one per line, blank lines and '#' comments skipped."""
    return _content_lines(Path(path).read_text(encoding="utf-8"))


def looks_like_url_list(text: str) -> bool:
    """Whether every non-blank, non-comment line of `text` is an http(s) URL (and there is one)."""
    lines = _content_lines(text)
    return bool(lines) and all(_is_http_url(line) for line in lines)


def _local_name(element: Element) -> str:
    """The tag of `element` without its namespace."""
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: Element, name: str) -> list[Element]:
    """The direct children of `element` whose local name is `name`."""
    return [child for child in element if _local_name(child) == name]


def _child_text(element: Element, name: str) -> str | None:
    """The stripped text of the first child called `name` that has text, or None."""
    for child in _children(element, name):
        if child.text and child.text.strip():
            return child.text.strip()
    return None


def _rss_item_link(item: Element) -> str | None:
    """The article URL of an RSS item: its link, else a permalink guid."""
    link = _child_text(item, "link")
    if link is None and any(
        g.get("isPermaLink", "true") != "false" for g in _children(item, "guid")
    ):
        link = _child_text(item, "guid")
    return link


def _atom_entry_link(entry: Element) -> str | None:
    """The article URL of an Atom entry: its alternate link."""
    for link in _children(entry, "link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href", "").strip():
            return link.get("href", "").strip()
    return None


def _parse_links(body: bytes) -> _Links | None:
    """The links of a sitemap, sitemap index, RSS 2.0/1.0 or Atom document, or None if not one.

    Raises:
        UnsafeXMLError: the document declares entities or external references.
    """
    try:
        root = SafeElementTree.fromstring(body)
    except DefusedXmlException as exc:
        raise UnsafeXMLError(
            f"unsafe XML refused ({type(exc).__name__}): entity declarations and external "
            "references are not expanded"
        ) from exc
    except SafeElementTree.ParseError:
        return None
    kind = _local_name(root)
    if kind == "sitemapindex":
        links = [_child_text(entry, "loc") for entry in _children(root, "sitemap")]
        return _Links([link for link in links if link], is_index=True)
    if kind == "urlset":
        links = [_child_text(entry, "loc") for entry in _children(root, "url")]
    elif kind == "rss":
        channels = _children(root, "channel")
        links = [_rss_item_link(item) for ch in channels for item in _children(ch, "item")]
    elif kind == "RDF":  # RSS 1.0 puts items next to the channel
        links = [_rss_item_link(item) for item in _children(root, "item")]
    elif kind == "feed":
        links = [_atom_entry_link(entry) for entry in _children(root, "entry")]
    else:
        return None
    return _Links([link for link in links if link])


def parse_feed_or_sitemap(body: bytes) -> list[str] | None:
    """The URLs listed by a sitemap, sitemap index, RSS or Atom feed; None if `body` is neither.

    Parsed with defusedxml: entities are never expanded.

    Raises:
        UnsafeXMLError: the document declares entities or external references (billion laughs,
            XXE).
    """
    links = _parse_links(body)
    return None if links is None else links.urls


def _read_links(fetcher: Fetcher, url: str) -> tuple[_Links | None, str | None]:
    """Fetch `url` and parse it as a sitemap or feed: (links or None if not one, error or None)."""
    result = fetcher.fetch(url)
    if not result.ok:
        return None, result.error
    try:
        links = _parse_links(result.body)
    except UnsafeXMLError as exc:
        return None, str(exc)
    if links is None:
        return None, None
    # Feeds may give relative links; they are relative to where the feed really is.
    absolute = [urljoin(result.final_url, link) for link in links.urls]
    return _Links(absolute, links.is_index), None


def discover_urls(fetcher: Fetcher, url: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand a sitemap, sitemap index or RSS/Atom feed into article URLs.

    Child sitemaps of an index are followed recursively, each at most once. Both the article URLs
    and the sitemaps fetched are capped at ``max_sitemap_urls``.

    Args:
        fetcher: Fetches (and caches) the sitemaps and feeds.
        url: A sitemap, feed or article URL.

    Returns:
        (article URLs in document order without duplicates, errors as (url, reason)). A URL that is
        not a sitemap or feed gives ``([url], [])``; one that cannot be fetched or is unsafe XML
        gives ``([], [(url, reason)])``.
    """
    limit = fetcher.config.max_sitemap_urls
    articles: dict[str, None] = {}  # an ordered set
    errors: list[tuple[str, str]] = []
    pending, seen = deque([url]), {url}
    while pending and len(articles) < limit:
        current = pending.popleft()
        links, error = _read_links(fetcher, current)
        if links is None and error is None:
            if current == url:
                return [url], []
            error = "not a sitemap or feed"
        if error is not None:
            errors.append((current, error))
        elif links.is_index:
            children = [child for child in links.urls if child not in seen]
            children = children[: max(0, limit - len(seen))]
            seen.update(children)
            pending.extend(children)
        else:
            articles.update(dict.fromkeys(links.urls))
    return list(articles)[:limit], errors
