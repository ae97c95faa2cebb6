"""The review app over HTTP, served on a free port of 127.0.0.1: sessions and reviewer names,
verdicts and conflicts, concurrent reviewers, bad input, and cross-site protection."""

from __future__ import annotations

import sqlite3
import threading
from html.parser import HTMLParser

import httpx
import pytest
from typer.testing import CliRunner

from pipeline.cli import app as cli_app
from pipeline.review.app import Settings, create_app
from tests.review_support import (
    copy_tables,
    pipeline_config,
    reference_tables,
    reviewer_client,
    served,
)

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return reference_tables(tmp_path_factory)


@pytest.fixture
def server(tables, tmp_path):
    """A fresh app and verdict database per test."""
    with served(copy_tables(tables, tmp_path / "out"), tmp_path / "verdicts.sqlite") as settings:
        yield settings


@pytest.fixture
def ann(server):
    with reviewer_client(server.url, "ann") as client:
        yield client


def _log_size(db) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM verdict_log").fetchone()[0]
    finally:
        conn.close()


def _items(client, **filters) -> list[dict]:
    response = client.get("/api/items", params={"status": "all", "limit": 1000, **filters})
    response.raise_for_status()
    return response.json()["items"]


def _post(client, item_id, **body):
    return client.post(f"/api/items/{item_id}/verdicts", json=body)


class _Text(HTMLParser):
    """The text of an element (by id) and the names of the tags inside it."""

    def __init__(self, markup: str, element_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.element_id, self.depth, self.text, self.tags = element_id, 0, [], []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.tags.append(tag)
        if self.depth or dict(attrs).get("id") == self.element_id:
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


# --- sessions ---------------------------------------------------------------------------------


def test_pages_ask_for_a_reviewer_name_first(server):
    with httpx.Client(base_url=server.url) as client:
        response = client.get("/queue?type=claim")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fqueue%3Ftype%3Dclaim"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert "max-age" not in cookie and "expires" not in cookie, "a browser-session cookie"
        login = client.get("/login", params={"next": "/queue?type=claim"})
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        done = client.post(
            "/login", data={"csrf": csrf, "reviewer": "  Ada  ", "next": "/queue?type=claim"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/queue?type=claim"
        page = client.get("/queue?type=claim")
        assert page.status_code == 200
        assert "".join(_Text(page.text, "reviewer-name").text) == "Ada"


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, "tab\there"])
def test_unusable_reviewer_names_are_refused(server, name):
    with httpx.Client(base_url=server.url) as client:
        csrf = client.get("/api/session").json()["csrf"]
        response = client.post(
            "/api/session", json={"reviewer": name}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 422
        assert client.get("/api/session").json()["reviewer"] == ""


def test_login_never_redirects_off_the_app(server):
    with httpx.Client(base_url=server.url) as client:
        csrf = client.get("/api/session").json()["csrf"]
        for target in ("//evil.example/x", "https://evil.example/", "\\\\evil"):
            done = client.post("/login", data={"csrf": csrf, "reviewer": "a", "next": target})
            assert done.headers["location"] == "/queue"


def test_pages_send_a_strict_content_security_policy(ann):
    response = ann.get("/queue")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert ann.get("/static/review.js").status_code == 200
    assert "cdn" not in response.text.lower() and 'src="http' not in response.text


# --- verdicts ---------------------------------------------------------------------------------


def test_queue_api_lists_doubtful_items_first_and_filters(ann):
    items = _items(ann)
    assert {i["item_type"] for i in items} == {"mention", "claim", "support"}
    confidences = [i["confidence"] for i in items]
    assert confidences == sorted(confidences)
    claims = _items(ann, type="claim", flag="vague attribution")
    assert claims and all("vague attribution" in i["flags"] for i in claims)
    assert all(i["item_type"] == "claim" for i in claims)


def test_a_verdict_is_recorded_with_the_reviewer_and_read_back(ann, server):
    item = _items(ann, type="mention")[0]
    response = _post(ann, item["item_id"], verdict="accept", base_seq=0, comment="fine")
    assert response.status_code == 201
    entry = response.json()
    assert (entry["reviewer"], entry["verdict"], entry["comment"]) == ("ann", "accept", "fine")
    current = ann.get(f"/api/items/{item['item_id']}").json()
    assert (current["verdict"], current["seq"], current["reviewer"]) == (
        "accept",
        entry["seq"],
        "ann",
    )
    assert [h["seq"] for h in current["history"]] == [entry["seq"]]
    assert _items(ann, status="accept")[0]["item_id"] == item["item_id"]
    assert _log_size(server.db) == 1


def test_a_correction_records_the_new_value(ann):
    support = _items(ann, type="support")
    item = next(
        s for s in support if s["support_status"] == "unbacked" and s["details"]["candidates"]
    )
    claim_id = item["details"]["candidates"][0]["claim_id"]

    def correct(correction: dict):
        return _post(ann, item["item_id"], verdict="correct", base_seq=0, correction=correction)

    # A linked status needs a claim of the article, and only claims of that article.
    for correction, error in (
        ({"status": "weaker"}, "at least one linked claim"),
        (
            {"status": "backed", "claim_ids": ["someone-else:clm:0-10"]},
            "not a claim of this article",
        ),
    ):
        refused = correct(correction)
        assert refused.status_code == 422 and error in refused.json()["error"], correction
    response = correct({"status": "weaker", "claim_ids": [claim_id]})
    assert response.status_code == 201
    assert response.json()["old_value"] == {"status": "unbacked", "claim_ids": []}
    assert response.json()["new_value"] == {"status": "weaker", "claim_ids": [claim_id]}
    # Set back to unbacked alone, the links go with it.
    backed = next(s for s in support if s["support_status"] == "backed")
    response = _post(
        ann, backed["item_id"], verdict="correct", base_seq=0, correction={"status": "unbacked"}
    )
    assert response.status_code == 201
    assert response.json()["old_value"]["claim_ids"] == backed["details"]["claim_ids"]
    assert response.json()["new_value"] == {"status": "unbacked", "claim_ids": []}


def test_the_form_records_a_verdict_and_moves_to_the_next_item(ann):
    first, second = _items(ann, type="mention", status="unreviewed")[:2]
    csrf = ann.headers["X-CSRF-Token"]
    response = ann.post(
        f"/items/{first['item_id']}/verdict?type=mention",
        data={"csrf": csrf, "verdict": "reject", "base_seq": "0", "comment": "not a cause"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/items/{second['item_id']}?type=mention")
    page = ann.get(response.headers["location"])
    assert "Verdict #1 recorded." in page.text


def test_two_reviewers_on_the_same_item_get_a_conflict(server, ann):
    item = _items(ann)[0]
    with reviewer_client(server.url, "bob") as bob:
        assert _post(ann, item["item_id"], verdict="accept", base_seq=0).status_code == 201
        late = _post(bob, item["item_id"], verdict="reject", base_seq=0)
        assert late.status_code == 409
        assert late.json()["current"]["reviewer"] == "ann"
        # The form shows the conflict as one, and keeps what bob typed.
        page = bob.post(
            f"/items/{item['item_id']}/verdict",
            data={
                "csrf": bob.headers["X-CSRF-Token"],
                "verdict": "reject",
                "base_seq": "0",
                "comment": "disagree",
            },
        )
        assert page.status_code == 409
        assert "ann recorded" in "".join(_Text(page.text, "conflict").text)
        assert ">disagree</textarea>" in page.text
        # Having seen ann's verdict, bob may add his own on top of it.
        seq = ann.get(f"/api/items/{item['item_id']}").json()["seq"]
        assert _post(bob, item["item_id"], verdict="reject", base_seq=seq).status_code == 201
    assert _log_size(server.db) == 2


def test_concurrent_reviewers_lose_no_update(server):
    """Two clients post at once: on different items both win, on the same item one wins and
    the other gets a 409; every 201 is in the log."""
    with reviewer_client(server.url, "ann") as ann, reviewer_client(server.url, "bob") as bob:
        items = [i["item_id"] for i in _items(ann)]
        shared, own_ann, own_bob = items[:10], items[10:30], items[30:50]
        start = threading.Barrier(2)
        results: dict[str, list] = {"ann": [], "bob": []}

        def work(client, name, own):
            start.wait()
            for item_id in [x for pair in zip(shared, own) for x in pair] + own[len(shared) :]:
                response = _post(client, item_id, verdict="accept", base_seq=0, comment=name)
                results[name].append((item_id, response.status_code, response.json()))

        threads = [
            threading.Thread(target=work, args=(ann, "ann", own_ann)),
            threading.Thread(target=work, args=(bob, "bob", own_bob)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log = ann.get("/api/verdicts").json()["verdicts"]
    outcomes = {}
    for name, rows in results.items():
        for item_id, status, body in rows:
            assert status in (201, 409), body
            outcomes.setdefault(item_id, []).append((name, status, body))
    for item_id in shared:
        statuses = sorted(status for _, status, _ in outcomes[item_id])
        assert statuses == [201, 409], (item_id, outcomes[item_id])
        ((winner, _, entry),) = [o for o in outcomes[item_id] if o[1] == 201]
        ((_, _, conflict),) = [o for o in outcomes[item_id] if o[1] == 409]
        assert conflict["current"]["reviewer"] == winner
    for item_id in own_ann + own_bob:
        assert [status for _, status, _ in outcomes[item_id]] == [201]
    accepted = [body for rows in results.values() for _, status, body in rows if status == 201]
    assert len(accepted) == len(shared) + len(own_ann) + len(own_bob)
    assert sorted((e["seq"], e["item_id"], e["comment"]) for e in accepted) == [
        (e["seq"], e["item_id"], e["comment"]) for e in log
    ]
    assert _log_size(server.db) == len(accepted)


# --- bad input --------------------------------------------------------------------------------


def _mention(client) -> dict:
    return _items(client, type="mention")[0]


BAD_VERDICTS = [
    (
        "unknown item",
        lambda m: ("mention:0000000000000000:1-2:sign", {"verdict": "accept", "base_seq": 0}),
        404,
    ),
    ("row number as ID", lambda m: ("17", {"verdict": "accept", "base_seq": 0}), 404),
    ("unknown verdict", lambda m: (m["item_id"], {"verdict": "maybe", "base_seq": 0}), 422),
    ("no verdict", lambda m: (m["item_id"], {"base_seq": 0}), 422),
    ("no base", lambda m: (m["item_id"], {"verdict": "accept"}), 422),
    ("text base", lambda m: (m["item_id"], {"verdict": "accept", "base_seq": "0"}), 422),
    ("negative base", lambda m: (m["item_id"], {"verdict": "accept", "base_seq": -1}), 422),
    (
        "extra field",
        lambda m: (m["item_id"], {"verdict": "accept", "base_seq": 0, "who": "x"}),
        422,
    ),
    (
        "correction on accept",
        lambda m: (
            m["item_id"],
            {"verdict": "accept", "base_seq": 0, "correction": {"category": "sign"}},
        ),
        422,
    ),
    (
        "unknown category",
        lambda m: (
            m["item_id"],
            {"verdict": "correct", "base_seq": 0, "correction": {"category": "mood"}},
        ),
        422,
    ),
    (
        "span outside the paragraph",
        lambda m: (
            m["item_id"],
            {"verdict": "correct", "base_seq": 0, "correction": {"start": 0, "end": 10**6}},
        ),
        422,
    ),
    (
        "oversized comment",
        lambda m: (m["item_id"], {"verdict": "accept", "base_seq": 0, "comment": "x" * 2001}),
        422,
    ),
    (
        "comment not text",
        lambda m: (m["item_id"], {"verdict": "accept", "base_seq": 0, "comment": ["x"]}),
        422,
    ),
    (
        "control characters",
        lambda m: (m["item_id"], {"verdict": "accept", "base_seq": 0, "comment": "a\x00b"}),
        422,
    ),
]


@pytest.mark.parametrize(("case", "make", "status"), BAD_VERDICTS, ids=[c[0] for c in BAD_VERDICTS])
def test_bad_verdicts_get_a_clear_4xx_and_write_nothing(ann, server, case, make, status):
    item_id, body = make(_mention(ann))
    response = _post(ann, item_id, **body)
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert _log_size(server.db) == 0


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 422),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400),
        (b'{"verdict": "accept", "base_seq": 0, "comment": "' + b"x" * 70_000 + b'"}', {}, 413),
    ],
    ids=["broken JSON", "not an object", "not UTF-8", "oversized body"],
)
def test_malformed_bodies_get_a_clear_4xx_and_write_nothing(ann, server, content, headers, status):
    response = ann.post(
        f"/api/items/{_mention(ann)['item_id']}/verdicts", content=content, headers=headers
    )
    assert response.status_code == status, response.text
    assert _log_size(server.db) == 0


def test_an_oversized_body_without_length_is_refused(ann, server):
    def chunks():
        for _ in range(40):
            yield b"x" * 4096

    response = ann.post(f"/api/items/{_mention(ann)['item_id']}/verdicts", content=chunks())
    assert response.status_code == 413
    assert _log_size(server.db) == 0


def test_html_in_a_comment_is_stored_and_shown_as_text(ann):
    item = _mention(ann)
    comment = '<script>alert("x")</script><img src=x onerror=alert(1)> & <b>bold</b>'
    assert (
        _post(ann, item["item_id"], verdict="reject", base_seq=0, comment=comment).status_code
        == 201
    )
    assert ann.get(f"/api/items/{item['item_id']}").json()["history"][0]["comment"] == comment
    page = ann.get(f"/items/{item['item_id']}").text
    assert "".join(_Text(page, "history").text).count(comment) == 1
    parsed = _Text(page, "history")
    assert "script" not in parsed.tags and "img" not in parsed.tags and "b" not in parsed.tags
    assert "&lt;script&gt;" in page


def test_article_text_is_escaped_and_the_span_highlighted(ann):
    claim = _items(ann, type="claim")[0]
    page = ann.get(f"/items/{claim['item_id']}").text
    assert "".join(_Text(page, "span").text) == claim["span"]
    assert claim["context"] in "".join(_Text(page, "context").text)
    article = ann.get(f"/articles/{claim['doc_id']}", params={"item": claim["item_id"]})
    assert article.status_code == 200
    assert "".join(_Text(article.text, "span").text) == claim["span"]


def test_unknown_pages_are_404(ann):
    assert ann.get("/items/mention:0000000000000000:1-2:sign").status_code == 404
    assert ann.get("/articles/no-such-article").status_code == 404
    assert ann.get("/api/items/nope").status_code == 404


# --- cross-site requests and access -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"X-CSRF-Token": "guessed"}, 403),
        ({"X-CSRF-Token": ""}, 403),
        ({"Host": "rebound.example:80"}, 421),
    ],
)
def test_cross_site_requests_are_refused(ann, server, headers, status):
    item = _mention(ann)
    response = ann.post(
        f"/api/items/{item['item_id']}/verdicts",
        json={"verdict": "accept", "base_seq": 0},
        headers=headers,
    )
    assert response.status_code == status
    assert _log_size(server.db) == 0


def test_a_form_from_another_site_is_refused(server, ann):
    item = _mention(ann)
    with httpx.Client(base_url=server.url) as stranger:
        # A cross-site form post carries no session cookie (SameSite=Strict) and no token.
        response = stranger.post(
            f"/items/{item['item_id']}/verdict",
            data={"verdict": "accept", "base_seq": "0"},
            headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert response.status_code == 403
        response = stranger.post(
            f"/items/{item['item_id']}/verdict", data={"verdict": "accept", "base_seq": "0"}
        )
        assert response.status_code == 403
    assert _log_size(server.db) == 0


def test_an_access_token_guards_every_request(tables, tmp_path):
    out = copy_tables(tables, tmp_path / "out")
    with served(out, tmp_path / "v.sqlite", token="s3cret") as settings:
        with httpx.Client(base_url=settings.url) as client:
            assert client.get("/queue").status_code == 401
            assert client.get("/api/items").status_code == 401
            assert client.get("/queue", params={"token": "wrong"}).status_code == 401
            entry = client.get("/queue", params={"token": "s3cret", "type": "claim"})
            assert entry.status_code == 303 and entry.headers["location"] == "/queue?type=claim"
            assert client.get("/api/items").status_code == 200, "the session now holds access"
        with httpx.Client(base_url=settings.url) as api:
            headers = {"Authorization": "Bearer s3cret"}
            assert api.get("/api/items", headers=headers).status_code == 200


def test_a_non_loopback_bind_needs_a_token(tables, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="needs an access token"):
        create_app(
            Settings.from_config(
                pipeline_config(), tables, db=tmp_path / "v.sqlite", host="0.0.0.0"
            )
        )
    monkeypatch.delenv("PIPELINE_REVIEW_TOKEN", raising=False)
    result = CliRunner().invoke(
        cli_app,
        ["review", "--out", str(tables), "--db", str(tmp_path / "v.sqlite"), "--host", "0.0.0.0"],
    )
    assert result.exit_code == 2
    assert "needs an access token" in result.output
    assert not (tmp_path / "v.sqlite").exists()
