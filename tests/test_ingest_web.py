"""URL lists, sitemaps and feeds through the whole load stage, against a local server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner
from webserver import Reply, Route, html_page, redirect, robots_txt, rss_feed, serve, sitemap

from pipeline.cli import EXIT_PARTIAL, app
from pipeline.io import read_table
from tests.reliability import record_reliability

pytestmark = pytest.mark.network


def _paragraphs(reference_raw: str, start: int, n: int = 3) -> str:
    paras = [p for p in reference_raw.split("\n\n") if len(p.split()) > 25]
    return "\n\n".join(paras[start : start + n])


def test_url_list_with_sitemap_feed_and_failures(tmp_path: Path, reference_raw: str):
    articles = {
        f"/a{i}": Route(html_page(f"Attachment article {i}", _paragraphs(reference_raw, i)))
        for i in range(4)
    }
    flaky = Route(
        Reply("slow down", status=429, headers={"Retry-After": "0"}, content_type="text/plain"),
        html_page("Flaky but fine", _paragraphs(reference_raw, 5)),
    )
    routes = {
        "/robots.txt": robots_txt("/private/"),
        **articles,
        "/flaky": flaky,
        "/missing": Reply("nope", status=404, content_type="text/plain"),
        "/broken": Reply("oops", status=500, content_type="text/plain"),
        "/loop": redirect("/loop"),
        "/big": Reply("x" * 5000, content_type="text/html"),
        "/slow": Reply(html_page("Slow", "late").payload, delay_s=3.0),
        "/private/secret": html_page("Secret", _paragraphs(reference_raw, 6)),
    }
    with serve(routes) as base:
        routes["/sitemap.xml"] = sitemap([f"{base}/a0", f"{base}/a1"])
        routes["/feed.xml"] = rss_feed([f"{base}/a2", f"{base}/a3"])
        url_list = tmp_path / "urls.txt"
        url_list.write_text(
            "\n".join(
                [
                    "# sources for the test",
                    f"{base}/sitemap.xml",
                    f"{base}/feed.xml",
                    f"{base}/flaky",
                    f"{base}/missing",
                    f"{base}/broken",
                    f"{base}/loop",
                    f"{base}/big",
                    f"{base}/slow",
                    f"{base}/private/secret",
                ]
            ),
            encoding="utf-8",
        )
        config = tmp_path / "config.yaml"
        config.write_text(
            f"paths:\n  web_cache: {tmp_path / 'web'}\n"
            "fetch:\n  allow_private_hosts: true\n  per_host_delay_s: 0\n  timeout_s: 1.0\n"
            "  max_retries: 1\n  backoff_base_s: 0\n  max_body_bytes: 4000\n",
            encoding="utf-8",
        )
        out = tmp_path / "out"
        runner = CliRunner()
        args = ["load", "-i", str(url_list), "-o", str(out), "-c", str(config)]
        result = runner.invoke(app, args)
        assert result.exit_code == EXIT_PARTIAL, result.output
        docs = read_table(out, "documents")
        assert sorted(docs.title) == [f"Attachment article {i}" for i in range(4)] + [
            "Flaky but fine"
        ]
        assert docs.fetched_at.str.len().gt(0).all() and (docs.format == "url").all()
        reasons = dict(
            zip(
                read_table(out, "rejected").input.str.replace(base, ""),
                read_table(out, "rejected").reason,
            )
        )
        fetched = set(docs.source.str.replace(base, ""))
        for path, kind in [
            ("/flaky", "fault:429-retry-after"),
            ("/missing", "fault:http-error"),
            ("/broken", "fault:5xx-storm"),
            ("/loop", "fault:redirect-loop"),
            ("/big", "fault:unusable-body"),
            ("/slow", "fault:slow-body"),
            ("/private/secret", "fault:robots-disallow"),
        ]:
            lost = 0 if path in fetched or path in reasons else 1
            record_reliability(kind, f"URL list through the load stage: {path}", lost=lost)
        assert reasons["/missing"] == "HTTP 404"
        assert reasons["/broken"].startswith("HTTP 500")
        assert "redirect" in reasons["/loop"]
        assert "max_body_bytes" in reasons["/big"]
        assert "timed out" in reasons["/slow"]
        assert "robots.txt" in reasons["/private/secret"]
        # A second run reads the cache: no article is fetched again.
        hits = {path: route.hits for path, route in articles.items()}
        runner.invoke(app, args)
        assert {path: route.hits for path, route in articles.items()} == hits
        assert sorted(read_table(out, "documents").doc_id) == sorted(docs.doc_id)
