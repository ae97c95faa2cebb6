"""Tests of pipeline.fetch against a local HTTP server on 127.0.0.1 (see webserver.py)."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from webserver import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    Reply,
    Route,
    atom_feed,
    html_page,
    redirect,
    robots_txt,
    rss_feed,
    serve,
    sitemap,
    sitemap_index,
)

from pipeline.config import FetchConfig, load_config
from pipeline.fetch import (
    Fetcher,
    UnsafeXMLError,
    discover_urls,
    looks_like_url_list,
    parse_feed_or_sitemap,
    read_url_list,
)
from tests.reliability import record_reliability

pytestmark = pytest.mark.network

PAGE = html_page("Coping with worry", "Worry is common.\n\nWriting it down helps.")


def fetch_config(**fetch: object) -> FetchConfig:
    """The fetch settings for tests: local hosts allowed, no delays, one try, unless overridden."""
    base = {
        "allow_private_hosts": True,
        "per_host_delay_s": 0.0,
        "timeout_s": 2.0,
        "max_retries": 0,
        "backoff_base_s": 0.0,
    }
    return load_config(overrides={"fetch": {**base, **fetch}}).fetch


class FakeTime:
    """A clock that only moves when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_fetcher(tmp_path: Path, time_: FakeTime) -> Iterator[Callable[..., Fetcher]]:
    """Build fetchers on one cache folder and fake clock from config overrides; closes them."""
    fetchers: list[Fetcher] = []

    def make(cfg: FetchConfig | None = None, **fetch: object) -> Fetcher:
        fetcher = Fetcher(
            cfg or fetch_config(**fetch),
            tmp_path / "cache",
            sleep=time_.sleep,
            clock=time_.clock,
        )
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        fetcher.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Fetching and caching


def test_fetch_returns_page_and_sends_user_agent(make_fetcher):
    page = Route(PAGE)
    fetcher = make_fetcher()
    with serve({"/article": page}) as base:
        result = fetcher.fetch(f"{base}/article")
    assert result.ok and result.error is None
    assert result.status == 200
    assert result.body == PAGE.payload
    assert result.headers["content-type"] == "text/html; charset=utf-8"
    assert result.final_url == result.url == f"{base}/article"
    assert not result.from_cache
    assert datetime.fromisoformat(result.fetched_at).utcoffset() == timedelta(0)
    assert page.requests[0].headers["user-agent"] == fetcher.config.user_agent


def test_second_fetch_is_served_from_cache_without_a_request(make_fetcher, tmp_path):
    page = Route(PAGE)
    with serve({"/article": page}) as base:
        url = f"{base}/article"
        first = make_fetcher().fetch(url)
        second = make_fetcher().fetch(url)  # a new fetcher: the cache is on disk
    assert page.hits == 1
    assert second.from_cache and second.ok
    assert (second.body, second.status, second.final_url) == (first.body, 200, url)
    assert second.headers == first.headers
    assert second.fetched_at == first.fetched_at
    stem = hashlib.sha256(url.encode()).hexdigest()
    assert {p.name for p in (tmp_path / "cache").iterdir()} == {f"{stem}.body", f"{stem}.json"}
    sidecar = json.loads((tmp_path / "cache" / f"{stem}.json").read_text())
    assert sidecar["url"] == url and sidecar["status"] == 200


def test_404_is_cached_but_server_errors_are_fetched_again(make_fetcher):
    gone, storm = Route(Reply("gone", status=404)), Route(Reply("oops", status=500))
    with serve({"/gone": gone, "/storm": storm}) as base:
        for _ in range(2):
            missing = make_fetcher().fetch(f"{base}/gone")
            failing = make_fetcher().fetch(f"{base}/storm")
    record_reliability("fault:http-error", "404 twice, cached")
    record_reliability("fault:5xx-storm", "500 twice, not cached")
    assert gone.hits == 1 and missing.from_cache
    assert (missing.status, missing.error, missing.body) == (404, "HTTP 404", None)
    assert storm.hits == 2 and not failing.from_cache
    assert (failing.status, failing.error) == (500, "HTTP 500")


@pytest.mark.parametrize("damage", ["sidecar", "body"])
def test_damaged_cache_entry_is_fetched_again(make_fetcher, tmp_path, damage):
    page = Route(PAGE)
    with serve({"/article": page}) as base:
        url = f"{base}/article"
        make_fetcher().fetch(url)
        stem = hashlib.sha256(url.encode()).hexdigest()
        if damage == "sidecar":
            (tmp_path / "cache" / f"{stem}.json").write_text('{"url": "', encoding="utf-8")
        else:
            body = tmp_path / "cache" / f"{stem}.body"
            body.write_bytes(body.read_bytes()[:10])
        again = make_fetcher().fetch(url)
    record_reliability("fault:damaged-cache", f"{damage} cut short", lost=int(not again.ok))
    assert again.ok and not again.from_cache and again.body == PAGE.payload
    assert page.hits == 2


def test_cache_write_failure_costs_the_cache_entry_not_the_page(make_fetcher, monkeypatch, caplog):
    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pipeline.fetch._write_atomically", disk_full)
    with serve({"/article": PAGE}) as base:
        result = make_fetcher().fetch(f"{base}/article")
    record_reliability("fault:disk-full", "web cache write fails", lost=int(not result.ok))
    assert result.ok and result.body == PAGE.payload
    assert "could not cache" in caplog.text and "No space left on device" in caplog.text


# Politeness: robots.txt, per-host delay, retries


def test_robots_txt_disallow_is_obeyed_and_read_once_per_host(make_fetcher):
    robots, secret, public = Route(robots_txt("/private/")), Route(PAGE), Route(PAGE)
    fetcher = make_fetcher(respect_robots=True)
    with serve({"/robots.txt": robots, "/private/notes": secret, "/public": public}) as base:
        refused = fetcher.fetch(f"{base}/private/notes")
        allowed = fetcher.fetch(f"{base}/public")
    record_reliability("fault:robots-disallow", "Disallow: /private/", lost=int(not allowed.ok))
    assert refused.error == "disallowed by robots.txt" and refused.body is None
    assert secret.hits == 0
    assert allowed.ok and public.hits == 1
    assert robots.hits == 1
    assert robots.requests[0].headers["user-agent"] == fetcher.config.user_agent


def test_robots_txt_is_ignored_when_not_respected(make_fetcher):
    robots, secret = Route(robots_txt("/")), Route(PAGE)
    with serve({"/robots.txt": robots, "/private/notes": secret}) as base:
        result = make_fetcher(respect_robots=False).fetch(f"{base}/private/notes")
    assert result.ok
    assert robots.hits == 0


def test_robots_txt_server_error_disallows_the_host(make_fetcher):
    page = Route(PAGE)
    with serve({"/robots.txt": Reply("down", status=503), "/article": page}) as base:
        result = make_fetcher(respect_robots=True).fetch(f"{base}/article")
    record_reliability("fault:robots-disallow", "robots.txt answers 503")
    assert result.error == "disallowed by robots.txt (robots.txt unavailable: HTTP 503)"
    assert page.hits == 0


def test_per_host_delay_separates_requests_to_the_same_host(make_fetcher, time_):
    fetcher = make_fetcher(per_host_delay_s=0.5, respect_robots=False)
    with serve({"/one": PAGE, "/two": PAGE, "/three": PAGE}) as base:
        port = base.rsplit(":", 1)[1]
        assert fetcher.fetch(f"{base}/one").ok
        assert time_.sleeps == []  # the first request to a host does not wait
        assert fetcher.fetch(f"{base}/two").ok
        assert time_.sleeps == [0.5]
        assert fetcher.fetch(f"http://localhost:{port}/three").ok  # another host name
    assert time_.sleeps == [0.5]


def test_retry_after_seconds_is_honoured(make_fetcher, time_):
    busy = Route(Reply("slow down", status=429, headers={"Retry-After": "3"}), PAGE)
    with serve({"/busy": busy}) as base:
        result = make_fetcher(max_retries=2, backoff_base_s=0.01).fetch(f"{base}/busy")
    record_reliability("fault:429-retry-after", "Retry-After: 3", lost=int(not result.ok))
    assert result.ok and result.body == PAGE.payload
    assert busy.hits == 2
    assert time_.sleeps == [3.0]


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [
        ("2", 2.0),
        ("3600", 5.0),  # capped at max_retry_after_s
        ("Fri, 01 Jan 2100 00:00:00 GMT", 5.0),  # HTTP-date far ahead, capped
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.25),  # HTTP-date passed: plain backoff
        ("soon", 0.25),  # unreadable: plain backoff
    ],
)
def test_retry_after_forms_and_cap(make_fetcher, time_, retry_after, expected_wait):
    busy = Route(Reply(status=503, headers={"Retry-After": retry_after}), PAGE)
    cfg = fetch_config(max_retries=1, backoff_base_s=0.25, max_retry_after_s=5.0)
    with serve({"/busy": busy}) as base:
        result = make_fetcher(cfg).fetch(f"{base}/busy")
    record_reliability(
        "fault:5xx-storm", f"503, Retry-After {retry_after}", lost=int(not result.ok)
    )
    assert result.ok
    assert time_.sleeps == [expected_wait]


def test_server_error_storm_gives_up_after_max_retries_plus_one_tries(make_fetcher, time_):
    storm = Route(Reply("down", status=500))
    with serve({"/storm": storm}) as base:
        result = make_fetcher(max_retries=3, backoff_base_s=0.1).fetch(f"{base}/storm")
    record_reliability("fault:5xx-storm", "500 on every try")
    assert storm.hits == 4
    assert time_.sleeps == pytest.approx([0.1, 0.2, 0.4])  # exponential backoff
    assert result.error == "HTTP 500 (gave up after 4 tries)"
    assert result.status == 500 and result.body is None and not result.ok


def test_connection_refused_is_retried_and_reported_not_raised(make_fetcher, time_):
    fetcher = make_fetcher(max_retries=1, backoff_base_s=0.1, respect_robots=False)
    result = fetcher.fetch(f"http://127.0.0.1:{free_port()}/x")
    record_reliability("fault:connection-refused", "no server on the port")
    assert not result.ok and result.status is None
    assert result.error.startswith("ConnectError") and "gave up after 2 tries" in result.error
    assert time_.sleeps == [0.1]


def test_unreachable_robots_txt_is_reported_as_the_reason(make_fetcher):
    result = make_fetcher(respect_robots=True).fetch(f"http://127.0.0.1:{free_port()}/x")
    assert result.error.startswith("disallowed by robots.txt (robots.txt unavailable: Connect")


def test_body_that_takes_longer_than_timeout_in_total_is_cut_off(tmp_path):
    """A server may drip bytes just within the read timeout; the whole body has a deadline too."""
    ticks = iter(range(0, 1000, 10))  # every look at the clock is 10 s later
    cfg = fetch_config(timeout_s=2.0, respect_robots=False)
    with (
        serve({"/drip": Reply(b"x" * 5000, chunked=True)}) as base,
        Fetcher(cfg, tmp_path, sleep=FakeTime().sleep, clock=lambda: float(next(ticks))) as fetcher,
    ):
        result = fetcher.fetch(f"{base}/drip")
    record_reliability("fault:slow-body", "body dripped past the deadline")
    assert result.error == "timed out after 2.0s"
    assert result.body is None


def test_slow_response_times_out_and_is_retried(make_fetcher):
    slow = Route(Reply("late", delay_s=3.0))
    with serve({"/slow": slow}) as base:
        result = make_fetcher(timeout_s=0.2, max_retries=1).fetch(f"{base}/slow")
    record_reliability("fault:slow-body", "no answer within the timeout")
    assert result.error == "timed out after 0.2s (gave up after 2 tries)"
    assert result.status is None and result.body is None
    assert slow.hits == 2


@pytest.mark.parametrize("chunked", [False, True])
def test_mid_body_disconnect_is_retried_and_the_cut_body_never_kept(make_fetcher, chunked):
    """The server announces the whole page, sends half and hangs up; the next try is whole."""
    half = len(PAGE.payload) // 2
    flaky = Route(Reply(PAGE.payload, chunked=chunked, cut_after=half), PAGE)
    with serve({"/flaky": flaky}) as base:
        result = make_fetcher(max_retries=1).fetch(f"{base}/flaky")
    record_reliability(
        "fault:mid-body-disconnect",
        f"{'chunked' if chunked else 'Content-Length'} body cut at {half} bytes, then whole",
        lost=int(result.body != PAGE.payload),
    )
    assert result.ok and result.body == PAGE.payload
    assert flaky.hits == 2


def test_body_that_is_always_cut_off_is_an_error_and_not_cached(make_fetcher, tmp_path):
    cut = Route(Reply(PAGE.payload, cut_after=100))
    with serve({"/cut": cut}) as base:
        result = make_fetcher(max_retries=2).fetch(f"{base}/cut")
    record_reliability(
        "fault:mid-body-disconnect", "cut at 100 bytes on every try", lost=int(result.ok)
    )
    assert result.body is None and not result.ok
    assert result.error.startswith("RemoteProtocolError")
    assert result.error.endswith("(gave up after 3 tries)")
    assert cut.hits == 3
    assert not (tmp_path / "cache").exists()  # a later run tries again


def test_body_that_stalls_midway_times_out_and_is_retried(make_fetcher):
    """Headers and 100 bytes arrive, then nothing: the read timeout ends the wait."""
    stalled = Route(Reply(PAGE.payload, cut_after=100, stall_s=30.0), PAGE)
    with serve({"/stalled": stalled}) as base:
        result = make_fetcher(timeout_s=0.3, max_retries=1).fetch(f"{base}/stalled")
    record_reliability(
        "fault:slow-body", "stalls after 100 bytes, then whole", lost=int(not result.ok)
    )
    assert result.ok and result.body == PAGE.payload
    assert stalled.hits == 2


def test_gzip_content_encoding_bomb_is_cut_at_max_body_bytes(make_fetcher):
    """The body limit counts decoded bytes: 64 MiB of zeros sent as 64 KB of gzip is refused."""
    bomb = gzip.compress(b"\0" * (64 * 2**20), compresslevel=9)
    reply = Reply(bomb, headers={"Content-Encoding": "gzip"})
    with serve({"/bomb": reply}) as base:
        result = make_fetcher(max_body_bytes=1_000_000).fetch(f"{base}/bomb")
    record_reliability("input:gzip-bomb", "HTTP Content-Encoding: gzip, 64 MiB inflated")
    assert len(bomb) < 1_000_000  # the wire size alone would pass the limit
    assert result.error == "body over max_body_bytes (1000000)" and result.body is None


# Redirects


def test_redirects_are_followed(make_fetcher):
    with serve({"/old": redirect("/older", 301), "/older": redirect("/new"), "/new": PAGE}) as base:
        result = make_fetcher().fetch(f"{base}/old")
    assert result.ok and result.body == PAGE.payload
    assert result.url == f"{base}/old"
    assert result.final_url == f"{base}/new"


def test_redirect_loop_is_an_error(make_fetcher):
    a, b = Route(redirect("/b")), Route(redirect("/a"))
    with serve({"/a": a, "/b": b}) as base:
        result = make_fetcher().fetch(f"{base}/a")
    record_reliability("fault:redirect-loop", "/a -> /b -> /a")
    assert result.error.startswith("redirect loop/limit (5) exceeded")
    assert result.body is None
    assert (a.hits, b.hits) == (1, 1)


@pytest.mark.parametrize(("max_redirects", "ok"), [(2, False), (3, True)])
def test_redirect_limit(make_fetcher, max_redirects, ok):
    routes = {"/r0": redirect("/r1"), "/r1": redirect("/r2"), "/r2": redirect("/r3"), "/r3": PAGE}
    with serve(routes) as base:
        result = make_fetcher(max_redirects=max_redirects).fetch(f"{base}/r0")
    assert result.ok is ok
    if not ok:
        assert result.error == f"redirect loop/limit ({max_redirects}) exceeded"


def test_every_redirect_hop_is_checked(make_fetcher):
    secret = Route(PAGE)
    routes = {
        "/robots.txt": robots_txt("/private/"),
        "/to-file": redirect("file:///etc/passwd"),
        "/to-private": redirect("/private/notes"),
        "/private/notes": secret,
    }
    with serve(routes) as base:
        fetcher = make_fetcher(respect_robots=True)
        to_file = fetcher.fetch(f"{base}/to-file")
        to_private = fetcher.fetch(f"{base}/to-private")
    record_reliability("fault:ssrf-refused", "redirect to file://")
    record_reliability("fault:robots-disallow", "redirect into a disallowed path")
    assert to_file.error == "unsupported scheme file"
    assert to_private.error == "disallowed by robots.txt"
    assert to_private.final_url == f"{base}/private/notes"
    assert secret.hits == 0


# Body checks


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(b"x" * 1001), "body over max_body_bytes (1000)"),
        # Refused on the declared length alone, before any of the (short) body is awaited.
        (Reply(b"tiny", headers={"Content-Length": "1000000"}), "body over max_body_bytes (1000)"),
        (Reply(b"x" * 5000, chunked=True), "body over max_body_bytes (1000)"),  # only streaming
        (Reply(b"x" * 1000, chunked=True), None),
        (
            Reply(b"%PDF-1.4", content_type="application/pdf"),
            "content-type application/pdf not allowed",
        ),
        (Reply("plain", content_type="Text/Plain; charset=latin-1"), None),
        (Reply("?", content_type=None), "content-type (missing) not allowed"),
    ],
)
def test_body_size_and_content_type_checks(make_fetcher, reply, error):
    with serve({"/doc": reply}) as base:
        result = make_fetcher(max_body_bytes=1000).fetch(f"{base}/doc")
    if error is not None:
        record_reliability("fault:unusable-body", error)
    assert result.error == error
    assert result.ok is (error is None)
    assert (result.body == reply.payload) if error is None else result.body is None


# SSRF guard


def test_default_config_refuses_local_hosts_and_other_schemes(tmp_path, time_):
    page = Route(PAGE)
    with (
        serve({"/robots.txt": robots_txt(), "/article": page}) as base,
        Fetcher(load_config().fetch, tmp_path, sleep=time_.sleep, clock=time_.clock) as fetcher,
    ):
        port = base.rsplit(":", 1)[1]
        for url in [
            f"{base}/article",
            f"http://localhost:{port}/article",
            f"http://[::1]:{port}/article",
            f"http://[::ffff:127.0.0.1]:{port}/article",
            "http://10.1.2.3/",
            "http://192.168.0.1/admin",
            "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
            "http://100.100.100.200/latest/meta-data/",  # shared address space: cloud metadata
            "http://224.0.0.1/",
            "http://0.0.0.0/",
        ]:
            error = fetcher.fetch(url).error
            record_reliability("fault:ssrf-refused", url.replace(port, "PORT"))
            assert error.startswith("refused private/loopback host"), url
            assert error.endswith("(set fetch.allow_private_hosts)")
        for url in ("file:///etc/passwd", "ftp://example.com/x", "example.com/article"):
            record_reliability("fault:ssrf-refused", url)
        assert fetcher.fetch("file:///etc/passwd").error == "unsupported scheme file"
        assert fetcher.fetch("ftp://example.com/x").error == "unsupported scheme ftp"
        assert fetcher.fetch("example.com/article").error == "unsupported scheme (none)"
    assert page.hits == 0
    assert not any(tmp_path.iterdir())  # refusals are not cached


def test_host_name_resolving_to_private_address_is_refused(tmp_path, monkeypatch):
    resolved: list[str] = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.7.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with Fetcher(load_config().fetch, tmp_path) as fetcher:
        result = fetcher.fetch("https://intranet.example/wiki")
    record_reliability("fault:ssrf-refused", "public name resolving to 192.168.7.7")
    assert resolved == ["intranet.example"]
    assert result.error.startswith("refused private/loopback host intranet.example")


# Sitemaps and feeds


def test_sitemap_index_is_expanded_recursively(make_fetcher):
    def routes(base: str) -> dict[str, Reply]:
        return {
            "/sitemap.xml": sitemap_index(
                [f"{base}/s1.xml", f"{base}/s2.xml", f"{base}/missing.xml", f"{base}/a1"]
            ),
            "/s1.xml": sitemap([f"{base}/a1", f"{base}/a2"]),
            "/s2.xml": sitemap_index([f"{base}/s3.xml", f"{base}/s1.xml"]),  # nested, repeats s1
            "/s3.xml": sitemap([f"{base}/a2", f"{base}/a3"]),
            "/a1": PAGE,
        }

    table: dict[str, Reply] = {}
    with serve(table) as base:
        table.update(routes(base))  # the routes need the port, known only once serving
        urls, errors = discover_urls(make_fetcher(), f"{base}/sitemap.xml")
    assert urls == [f"{base}/a1", f"{base}/a2", f"{base}/a3"]
    assert errors == [(f"{base}/missing.xml", "HTTP 404"), (f"{base}/a1", "not a sitemap or feed")]


@pytest.mark.parametrize("feed", [rss_feed, atom_feed])
def test_feeds_give_their_article_urls(make_fetcher, feed):
    table: dict[str, Reply] = {}
    with serve(table) as base:
        # Atom links may be relative to the feed; RSS links here are absolute.
        links = ["/posts/1", "/posts/2"] if feed is atom_feed else [f"{base}/posts/1", f"{base}/p2"]
        table["/feed"] = feed(links)
        urls, errors = discover_urls(make_fetcher(), f"{base}/feed")
    expected = [f"{base}/posts/1", f"{base}/posts/2"] if feed is atom_feed else links
    assert (urls, errors) == (expected, [])


def test_discovery_of_a_plain_page_or_a_failure(make_fetcher):
    with serve({"/article": PAGE}) as base:
        fetcher = make_fetcher()
        assert discover_urls(fetcher, f"{base}/article") == ([f"{base}/article"], [])
        assert discover_urls(fetcher, f"{base}/nope") == ([], [(f"{base}/nope", "HTTP 404")])


def test_discovery_is_capped_at_max_sitemap_urls(make_fetcher):
    table: dict[str, Reply] = {}
    with serve(table) as base:
        table["/sitemap.xml"] = sitemap([f"{base}/a{n}" for n in range(5)])
        urls, _ = discover_urls(make_fetcher(max_sitemap_urls=2), f"{base}/sitemap.xml")
    assert urls == [f"{base}/a0", f"{base}/a1"]


def test_billion_laughs_sitemap_is_refused_not_expanded(make_fetcher):
    with serve({"/sitemap.xml": Reply(BILLION_LAUGHS, content_type="application/xml")}) as base:
        urls, errors = discover_urls(make_fetcher(), f"{base}/sitemap.xml")
    record_reliability("input:xml-entities", "billion laughs sitemap over HTTP")
    assert urls == []
    assert len(errors) == 1 and errors[0][1].startswith("unsafe XML refused")


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_parse_refuses_entity_declarations(document):
    with pytest.raises(UnsafeXMLError, match="unsafe XML refused"):
        parse_feed_or_sitemap(document)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (sitemap(["https://a.example/1"]).payload, ["https://a.example/1"]),
        (sitemap([]).payload, []),
        (PAGE.payload, None),  # HTML, not well-formed XML
        (b"<html><body><p>x</p></body></html>", None),  # well-formed, but not a sitemap
        (b"not xml at all", None),
    ],
)
def test_parse_feed_or_sitemap(body, expected):
    assert parse_feed_or_sitemap(body) == expected


# URL lists


def test_read_url_list_skips_comments_and_blanks(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text("# reading list\n\nhttps://a.example/1\n  http://b.example/2  \n# end\n")
    assert read_url_list(path) == ["https://a.example/1", "http://b.example/2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://a.example/1\n# note\n\nhttp://b.example/2\n", True),
        ("\ufeffhttps://a.example/1\n", True),
        ("https://a.example/1\nnot a url\n", False),
        ("https://a.example/1 and more\n", False),
        ("file:///etc/passwd\n", False),
        ("# only a comment\n\n", False),
        ("", False),
    ],
)
def test_looks_like_url_list(text, expected):
    assert looks_like_url_list(text) is expected
