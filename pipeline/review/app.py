"""The review web app: FastAPI with Jinja2 pages, one item at a time, keyboard first.

The pages are plain HTML forms (they work without script); `static/review/review.js` adds the
keyboard shortcuts. Nothing is fetched from elsewhere: a Content Security Policy allows only
the app's own scripts and styles.

Security: the app binds to loopback unless given an access token. Requests must name a host
the app answers to (so a rebound DNS name cannot reach it), state-changing requests must come
from the app's own pages (Origin and Sec-Fetch-Site checks, a per-session CSRF token, and a
SameSite=Strict session cookie), and bodies are size-limited. All article text and comments
go through Jinja2's autoescaping.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool

from pipeline.compare import SUPPORT_STATUSES
from pipeline.io import read_table
from pipeline.lexicon import CATEGORIES
from pipeline.review.items import (
    ITEM_ID_RE,
    SOURCE_TYPES,
    build_items,
    doc_hash,
    web_url,
)
from pipeline.review.store import (
    STATUS_FILTERS,
    ConflictError,
    Limits,
    ReviewStore,
    UnknownItemError,
    VerdictError,
    check_reviewer,
)

log = logging.getLogger(__name__)

RUN_TABLES = ("documents", "segments", "mentions", "claims", "support", "flags")
FILTER_KEYS = ("doc", "type", "category", "flag", "status")
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_MAX_SESSIONS = 10_000
_STATIC = Path(__file__).resolve().parents[1] / "static" / "review"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Settings:
    """What one app instance serves and how; `from_config` fills it from the config.

    Attributes:
        out_dir: the run's table folder.
        db: the verdict database.
        host, port: the bind address (the port is the real one once a socket is bound).
        token: access token; required for a non-loopback host.
        limits: sizes of reviewer input.
        max_body_bytes: larger request bodies get 413.
        page_size: queue rows per page.
        claim_confidence: see `build_items`.
    """

    out_dir: Path
    db: Path
    host: str
    port: int
    token: str | None
    limits: Limits
    max_body_bytes: int
    page_size: int
    claim_confidence: dict[str, float]

    @classmethod
    def from_config(cls, config, out_dir: Path, **overrides) -> Settings:
        """Settings from the `review:` section of the config; overrides that are not None
        (the command line's) win."""
        rc = config.review
        values = {
            "out_dir": Path(out_dir),
            "db": rc.db,
            "host": rc.host,
            "port": rc.port,
            "token": None,
            "limits": Limits.from_config(rc),
            "max_body_bytes": rc.max_body_bytes,
            "page_size": rc.page_size,
            "claim_confidence": dict(rc.claim_confidence),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class Session:
    sid: str
    csrf: str
    reviewer: str = ""
    authorised: bool = False


class Sessions:
    """Browser sessions in memory: a restart only asks each reviewer for their name again."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> Session | None:
        with self._lock:
            return self._items.get(sid) if sid else None

    def create(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            self._items[session.sid] = session
            while len(self._items) > _MAX_SESSIONS:
                self._items.popitem(last=False)
        return session


# --- the run's tables -------------------------------------------------------------------------


class InconsistentTablesError(RuntimeError):
    """The tables do not fit together (a run is writing them): keep the last good queue."""


def load_run_items(out_dir: Path, claim_confidence: dict[str, float]) -> tuple[pd.DataFrame, dict]:
    """Build the review items of the run in `out_dir`, checking the tables fit together.

    Returns:
        The items and the run's documents as doc_id -> {title, text, url, doc_sha}.

    Raises:
        InconsistentTablesError: a span or paragraph does not match its document's text,
            as when a re-run has rewritten some tables but not yet the others.
    """
    tables = {name: read_table(out_dir, name) for name in RUN_TABLES}
    try:
        items = build_items(*tables.values(), claim_confidence)
    except KeyError as exc:
        raise InconsistentTablesError(f"tables refer to unknown rows: {exc}") from exc
    docs = {
        d: {"title": t or d, "text": x, "url": web_url(u or ""), "doc_sha": doc_hash(x)}
        for d, t, x, u in zip(
            tables["documents"]["doc_id"],
            tables["documents"]["title"],
            tables["documents"]["text"],
            tables["documents"]["url"],
        )
    }
    for row in items.itertuples(index=False):
        text = docs[row.doc_id]["text"]
        context_end = row.context_start + len(row.context)
        if (row.item_type != "support" and text[row.start : row.end] != row.span) or text[
            row.context_start : context_end
        ] != row.context:
            raise InconsistentTablesError(f"{row.item_id} does not match its document's text")
    return items, docs


class RunState:
    """The run's items, synced into the store whenever the tables change on disk."""

    def __init__(self, settings: Settings, store: ReviewStore) -> None:
        self.settings = settings
        self.store = store
        self.docs: dict[str, dict] = {}
        self.last_sync: dict[str, int] = {}
        self._signature: tuple | None = None
        self._lock = threading.Lock()

    def _current_signature(self) -> tuple:
        stats = []
        for name in RUN_TABLES:
            path = self.settings.out_dir / f"{name}.parquet"
            try:
                st = path.stat()
                stats.append((name, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                stats.append((name, None, None))
        return tuple(stats)

    def refresh(self) -> bool:
        """Re-read the tables if they changed since the last sync; True when it synced."""
        with self._lock:
            signature = self._current_signature()
            if signature == self._signature:
                return False
            try:
                items, docs = load_run_items(self.settings.out_dir, self.settings.claim_confidence)
            except (InconsistentTablesError, OSError, ValueError) as exc:
                if self._signature is None:
                    raise
                log.warning("tables changed but cannot be read yet (%s); keeping the queue", exc)
                return False
            self.last_sync = self.store.sync(items, {d: v["doc_sha"] for d, v in docs.items()})
            self.docs = docs
            self._signature = signature
            return True


# --- the app ----------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline", "templates/review"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: f"{100 * v:.0f}%"
    env.filters["value"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)
    return env


def _filters(params) -> dict[str, str]:
    """The queue filters of a request; unknown status values fall back to the default."""
    filters = {k: str(params.get(k, "") or "") for k in FILTER_KEYS}
    if filters["status"] not in STATUS_FILTERS:
        filters["status"] = "unreviewed"
    return filters


def _query(filters: dict, **extra) -> str:
    return urlencode({k: v for k, v in {**filters, **extra}.items() if v not in ("", None)})


def _local_path(target: str) -> str:
    """`target` if it is a path on this app, else "/queue" (no open redirects)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/queue"


class HTTPProblem(Exception):
    """An error answered with `status` and a one-line message (HTML or JSON)."""

    def __init__(self, status: int, message: str, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}


def create_app(settings: Settings) -> FastAPI:
    """The review app for one run and one verdict database."""
    if not is_loopback(settings.host) and not settings.token:
        raise ValueError(f"binding to {settings.host} needs an access token")
    store = ReviewStore(settings.db, settings.limits, run_key=str(settings.out_dir.resolve()))
    state = RunState(settings, store)
    state.refresh()
    sessions = Sessions()
    env = _environment()
    app = FastAPI(title="Review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.run = state
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    cookie = f"review_session_{settings.port}"

    def page(name: str, code: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=code)

    def problem(request: Request, exc: HTTPProblem) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status)
        return page(
            "error.html.j2",
            exc.status,
            status=exc.status,
            message=exc.message,
            session=getattr(request.state, "session", None),
            settings=settings,
        )

    def allowed_hosts() -> set[str]:
        port = settings.port
        names = {"127.0.0.1", "localhost", "[::1]", settings.host}
        return {f"{n}:{port}" for n in names} | ({settings.host} if port == 80 else set())

    @app.middleware("http")
    async def guard(request: Request, call_next):
        try:
            # 1. Only our own host name: a DNS name rebound to 127.0.0.1 is refused.
            host = request.headers.get("host", "")
            if is_loopback(settings.host) and host not in allowed_hosts():
                raise HTTPProblem(421, f"this app does not answer to host {host!r}")
            # 2. Size limit before anything reads the body.
            length = request.headers.get("content-length")
            if length and (not length.isdigit() or int(length) > settings.max_body_bytes):
                raise HTTPProblem(413, f"request body over {settings.max_body_bytes} bytes")
            # 3. Session (a browser-session cookie) and access token.
            session = sessions.get(request.cookies.get(cookie))
            fresh = session is None
            if fresh:
                session = sessions.create()
            request.state.session = session
            if settings.token and not session.authorised:
                given = request.query_params.get("token") or ""
                bearer = request.headers.get("authorization", "")
                if bearer.lower().startswith("bearer "):
                    given = bearer[7:]
                if not hmac.compare_digest(given.encode(), settings.token.encode()):
                    raise HTTPProblem(
                        401, "access token required: open the URL `pipeline review` printed"
                    )
                session.authorised = True
                if "token" in request.query_params and request.method == "GET":
                    # Drop the token from the address bar and from any Referer.
                    rest = {k: v for k, v in request.query_params.items() if k != "token"}
                    target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                    response = RedirectResponse(target, status_code=303)
                    return _finish(response, session, fresh)
            # 4. State changes only from our own pages.
            if request.method not in _SAFE_METHODS:
                site = request.headers.get("sec-fetch-site")
                if site is not None and site not in ("same-origin", "none"):
                    raise HTTPProblem(403, f"cross-site request refused ({site})")
                origin = request.headers.get("origin")
                if origin is not None and origin != f"http://{host}":
                    raise HTTPProblem(403, f"request from another origin refused ({origin})")
            if not request.url.path.startswith("/static/"):
                await run_in_threadpool(state.refresh)
            response = await call_next(request)
        except HTTPProblem as exc:
            response = problem(request, exc)
            session = getattr(request.state, "session", None)
            fresh = bool(session) and request.cookies.get(cookie) != session.sid
        return _finish(response, session, fresh)

    def _finish(response: Response, session: Session | None, fresh: bool) -> Response:
        if session is not None and fresh:
            # No Max-Age: the cookie, and with it the reviewer's name, lasts one browser session.
            response.set_cookie(cookie, session.sid, httponly=True, samesite="strict", path="/")
        headers = response.headers
        headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # "same-origin", not "no-referrer": under no-referrer browsers send `Origin: null` on
        # our own form posts, which the origin check must refuse.
        headers["Referrer-Policy"] = "same-origin"
        headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(HTTPProblem)
    async def _problem(request: Request, exc: HTTPProblem):
        return problem(request, exc)

    async def read_body(request: Request) -> bytes:
        """The request body, refused with 413 past the limit even without Content-Length."""
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > settings.max_body_bytes:
                raise HTTPProblem(413, f"request body over {settings.max_body_bytes} bytes")
        return bytes(body)

    async def read_form(request: Request) -> dict[str, str]:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise HTTPProblem(415, "send the form as application/x-www-form-urlencoded")
        try:
            pairs = parse_qs((await read_body(request)).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HTTPProblem(400, "the form is not UTF-8") from None
        return {k: v[-1] for k, v in pairs.items()}

    def check_csrf(request: Request, given: str | None) -> Session:
        session: Session = request.state.session
        if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
            raise HTTPProblem(403, "missing or wrong CSRF token: reload the page and try again")
        return session

    def require_reviewer(request: Request) -> Response | None:
        if not request.state.session.reviewer:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return None

    def base_context(request: Request) -> dict:
        return {"session": request.state.session, "settings": settings}

    # --- pages --------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index():
        return RedirectResponse("/queue", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/queue"):
        return page("login.html.j2", next=_local_path(next), error="", **base_context(request))

    @app.post("/login")
    async def login(request: Request):
        form = await read_form(request)
        session = check_csrf(request, form.get("csrf"))
        target = _local_path(form.get("next", "/queue"))
        try:
            session.reviewer = check_reviewer(form.get("reviewer", ""), settings.limits)
        except VerdictError as exc:
            return page("login.html.j2", 422, next=target, error=str(exc), **base_context(request))
        return RedirectResponse(target, status_code=303)

    @app.post("/logout")
    async def logout(request: Request):
        form = await read_form(request)
        check_csrf(request, form.get("csrf")).reviewer = ""
        return RedirectResponse("/login", status_code=303)

    @app.get("/queue", response_class=HTMLResponse)
    async def queue_page(request: Request, page_no: int = 1):
        if redirect := require_reviewer(request):
            return redirect
        filters = _filters(request.query_params)
        page_no = max(page_no, 1)
        rows, total = await run_in_threadpool(
            store.queue, filters, settings.page_size, (page_no - 1) * settings.page_size
        )
        return page(
            "queue.html.j2",
            rows=rows,
            total=total,
            page_no=page_no,
            pages=max(1, -(-total // settings.page_size)),
            filters=filters,
            query=_query(filters),
            facets=await run_in_threadpool(store.facets),
            statuses=STATUS_FILTERS,
            sync=state.last_sync,
            **base_context(request),
        )

    async def render_item(
        request: Request,
        item_id: str,
        status: int = 200,
        error: str = "",
        conflict: dict | None = None,
        attempt: dict | None = None,
    ) -> HTMLResponse:
        item = await run_in_threadpool(store.item, item_id)
        if item is None:
            raise HTTPProblem(404, f"no item {item_id!r}")
        filters = _filters(request.query_params)
        before, after = await run_in_threadpool(store.neighbours, item_id, filters)
        offset = item["context_start"]
        context = item["context"]
        start, end = item["start"] - offset, item["end"] - offset
        if not (0 <= start <= end <= len(context)):
            start = end = 0
        return page(
            "item.html.j2",
            status,
            item=item,
            before_text=context[:start],
            span_text=context[start:end],
            after_text=context[end:],
            history=await run_in_threadpool(store.history, item_id),
            filters=filters,
            query=_query(filters),
            prev_id=before,
            next_id=after,
            error=error,
            conflict=conflict,
            attempt=attempt or {},
            categories=CATEGORIES,
            source_types=SOURCE_TYPES,
            support_statuses=SUPPORT_STATUSES,
            saved=request.query_params.get("saved", ""),
            **base_context(request),
        )

    @app.get("/items/{item_id}", response_class=HTMLResponse)
    async def item_page(request: Request, item_id: str):
        if redirect := require_reviewer(request):
            return redirect
        return await render_item(request, item_id)

    @app.post("/items/{item_id}/verdict")
    async def item_verdict(request: Request, item_id: str):
        form = await read_form(request)
        session = check_csrf(request, form.get("csrf"))
        if not session.reviewer:
            raise HTTPProblem(401, "enter your name first (reload the page)")
        verdict = form.get("verdict", "")
        comment = form.get("comment", "")
        attempt = {"verdict": verdict, "comment": comment}
        try:
            base_seq = int(form.get("base_seq", ""))
        except ValueError:
            raise HTTPProblem(422, "base_seq must be a whole number") from None
        try:
            correction = None
            if verdict == "correct":
                item = await run_in_threadpool(store.item, item_id)
                if item is None:
                    raise UnknownItemError(item_id)
                correction = _form_correction(form, item)
            entry = await run_in_threadpool(
                store.record_verdict,
                item_id,
                session.reviewer,
                verdict,
                base_seq,
                comment,
                correction,
            )
        except UnknownItemError:
            raise HTTPProblem(404, f"no item {item_id!r}") from None
        except VerdictError as exc:
            return await render_item(request, item_id, 422, error=str(exc), attempt=attempt)
        except ConflictError as exc:
            return await render_item(
                request, item_id, 409, error=str(exc), conflict=exc.current, attempt=attempt
            )
        filters = _filters(request.query_params)
        _, after = await run_in_threadpool(store.neighbours, item_id, filters)
        query = _query(filters, saved=entry["seq"])
        target = f"/items/{after}?{query}" if after else f"/queue?{query}"
        return RedirectResponse(target, status_code=303)

    @app.get("/articles/{doc_id}", response_class=HTMLResponse)
    async def article_page(request: Request, doc_id: str, item: str = ""):
        if redirect := require_reviewer(request):
            return redirect
        doc = state.docs.get(doc_id)
        if doc is None:
            raise HTTPProblem(404, f"no article {doc_id!r} in this run")
        text, start, end = doc["text"], 0, 0
        marked = await run_in_threadpool(store.item, item) if item else None
        if marked and marked["doc_id"] == doc_id and not marked["stale"]:
            start, end = marked["start"], marked["end"]
        return page(
            "article.html.j2",
            doc_id=doc_id,
            doc=doc,
            before_text=text[:start],
            span_text=text[start:end],
            after_text=text[end:],
            item_id=item if marked else "",
            **base_context(request),
        )

    @app.get("/export/verdicts.{kind}")
    async def export_file(request: Request, kind: str):
        if kind not in ("csv", "jsonl"):
            raise HTTPProblem(404, "export as verdicts.csv or verdicts.jsonl")
        text = await run_in_threadpool(store.export_text, kind)
        media = "text/csv" if kind == "csv" else "application/x-ndjson"
        return Response(
            text,
            media_type=f"{media}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="verdicts.{kind}"'},
        )

    # --- JSON API -----------------------------------------------------------------------------

    @app.get("/api/session")
    async def api_session(request: Request):
        session: Session = request.state.session
        return {"reviewer": session.reviewer, "csrf": session.csrf}

    @app.post("/api/session")
    async def api_login(request: Request):
        session = check_csrf(request, request.headers.get("x-csrf-token"))
        body = _json_object(await read_body(request), {"reviewer"})
        try:
            session.reviewer = check_reviewer(body.get("reviewer"), settings.limits)
        except VerdictError as exc:
            raise HTTPProblem(422, str(exc)) from None
        return {"reviewer": session.reviewer}

    @app.get("/api/items")
    async def api_items(request: Request, limit: int = 50, offset: int = 0):
        filters = _filters(request.query_params)
        rows, total = await run_in_threadpool(
            store.queue, filters, min(max(limit, 1), 1000), max(offset, 0)
        )
        return {"items": rows, "total": total, "filters": filters}

    @app.get("/api/items/{item_id}")
    async def api_item(item_id: str):
        item = await run_in_threadpool(store.item, item_id)
        if item is None:
            raise HTTPProblem(404, f"no item {item_id!r}")
        item["history"] = await run_in_threadpool(store.history, item_id)
        return item

    @app.post("/api/items/{item_id}/verdicts", status_code=201)
    async def api_verdict(request: Request, item_id: str):
        session = check_csrf(request, request.headers.get("x-csrf-token"))
        if not session.reviewer:
            raise HTTPProblem(401, "set a reviewer name first (POST /api/session)")
        if not ITEM_ID_RE.match(item_id):
            raise HTTPProblem(404, f"no item {item_id!r}")
        body = _json_object(
            await read_body(request), {"verdict", "base_seq", "comment", "correction"}
        )
        for key in ("verdict", "base_seq"):
            if key not in body:
                raise HTTPProblem(422, f"missing field {key!r}")
        try:
            entry = await run_in_threadpool(
                store.record_verdict,
                item_id,
                session.reviewer,
                body["verdict"],
                body["base_seq"],
                body.get("comment", ""),
                body.get("correction"),
            )
        except UnknownItemError:
            raise HTTPProblem(404, f"no item {item_id!r}") from None
        except VerdictError as exc:
            raise HTTPProblem(422, str(exc)) from None
        except ConflictError as exc:
            raise HTTPProblem(
                409, str(exc), {"conflict": exc.reason, "current": exc.current}
            ) from None
        return JSONResponse(entry, status_code=201)

    @app.get("/api/verdicts")
    async def api_verdicts():
        return {"verdicts": await run_in_threadpool(store.log)}

    return app


def _json_object(body: bytes, allowed: set[str]) -> dict:
    """A JSON object body with only `allowed` keys, else a 4xx HTTPProblem."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPProblem(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise HTTPProblem(422, "the body must be a JSON object")
    unknown = set(data) - allowed
    if unknown:
        raise HTTPProblem(422, f"unknown fields: {', '.join(sorted(unknown))}")
    return data


def _form_correction(form: dict[str, str], item: dict) -> dict:
    """The fields of a correction form that differ from the item's extracted value."""
    correction: dict = {}
    for key, current in item["value"].items():
        if key == "text" or key not in form:
            continue
        given = form[key].strip() if key in ("concept",) else form[key]
        if key == "claim_ids":  # comma- or space-separated IDs, as the form shows them
            given = [part for part in re.split(r"[\s,]+", given) if part]
        if key in ("start", "end"):
            try:
                given = int(given)
            except ValueError:
                raise VerdictError(f"{key} must be a whole number") from None
        if given != current:
            correction[key] = given
    return correction


# --- serving ----------------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(settings: Settings):
    """A uvicorn server for the app and its bound socket; `settings.port` becomes the real one.

    Returns:
        (server, socket): run it with `server.run(sockets=[socket])`.
    """
    import uvicorn

    sock = bind_socket(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config), sock
