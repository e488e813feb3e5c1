"""The Starlette application: read-only pages over a registry, built from a :class:`GobblerClient`.

Only ``GET`` (and ``HEAD``) routes exist, so nothing a browser sends can change the registry. Every page
is a Jinja2 template with autoescaping on, under a Content Security Policy that allows scripts, styles and
images from this server only; downloads are attachments of a neutral type. All reads go through
:class:`~._source.RegistrySource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..cli.output import human_size
from ..errors import (
    GobblerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    UnsafePathError,
)
from ._compare import compare_manifests
from ._preview import LIMITS, image_type, preview
from ._source import RegistrySource

if TYPE_CHECKING:
    from .. import GobblerClient, ManifestEntry

__all__ = ["PAGE_SIZE", "create_app"]

#: Files per page of a version's table.
PAGE_SIZE = 100
_HERE = Path(__file__).parent
_DOWNLOAD_CHUNK = 1024 * 1024
# The search walks the registry's directories; it stops after this many listings or seconds.
_SEARCH_LISTINGS = 2000
_SEARCH_SECONDS = 5.0
_SEARCH_RESULTS = 500

# Pages: this server's own scripts, styles and images, nothing inline, no frames, forms only to here.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Downloads: even if a browser were told to render one, it could run and load nothing.
_FILE_POLICY = "default-src 'none'; sandbox"
_SAFE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_SORTS = ("path", "size", "md5")

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_App = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class _SecurityHeaders:
    """Add the safety headers to every response (a page's policy unless the response set its own)."""

    def __init__(self, app: _App) -> None:
        self.app = app

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: _Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _SAFE_HEADERS if name not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", _PAGE_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class _HostCheck:
    """Answer 400 to requests whose ``Host`` is not one of ours (IPv6 literals in brackets understood)."""

    def __init__(self, app: _App, hosts: list[str]) -> None:
        self.app = app
        self.hosts = {host.lower() for host in hosts}

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "http" and "*" not in self.hosts:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            # "[::1]:8765" names the host "[::1]"; a bracket never closed names none.
            host = header[: header.find("]") + 1] if header.startswith("[") else header.partition(":")[0]
            if host not in self.hosts:
                await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _link(prefix: str, *names: str, path: str | None = None) -> str:
    """A URL of this app: ``prefix`` then each name as one escaped segment, then a file path."""
    url = prefix + "/".join(_segment(name) for name in names)
    if path is not None:
        url += "/" + urllib.parse.quote(path, safe="/")
    return url


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _checked_name(kind: str, name: str) -> str:
    # Names that could step out of their directory or that the service never accepts are refused before
    # any read; the handles check again.
    if not name or name in (".", "..") or name.startswith("..") or any(c in name for c in "/\\\x00"):
        raise HTTPException(400, f"invalid {kind} name {name!r}")
    return name


def _checked_path(path: str) -> str:
    parts = path.split("/")
    if "\x00" in path or any(part in ("", ".") or part.startswith("..") for part in parts):
        raise HTTPException(400, f"invalid file path {path!r}: it would leave its version")
    return path


def _names(request: Request, *kinds: str) -> list[str]:
    return [_checked_name(kind, request.path_params[kind]) for kind in kinds]


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        raise HTTPException(400, "page must be a whole number") from None


@dataclass(frozen=True)
class _FileRow:
    path: str
    size: int
    md5: str
    link: str | None
    link_url: str | None
    directory: bool


class _Pages:
    """The request handlers, sharing one :class:`RegistrySource` and one template environment."""

    def __init__(self, source: RegistrySource) -> None:
        self.source = source
        self.templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,  # the templates ship with the package; no stat() per page
        )
        self.templates.globals.update(link=_link, size=human_size, when=_when)

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("location", self.source.location)
        context.setdefault("transport", self.source.transport)
        context.setdefault("query", "")
        context.setdefault("scope", ())
        return HTMLResponse(self.templates.get_template(name).render(**context), status_code=status)

    # ------------------------------------------------------------------------------ pages

    async def home(self, request: Request) -> Response:
        projects = await self.source.projects()
        return self.render("home.html", projects=projects, crumbs=[])

    async def project(self, request: Request) -> Response:
        (project,) = _names(request, "project")
        assets, facts = await asyncio.gather(self.source.assets(project), self.source.project_facts(project))
        return self.render(
            "project.html", project=project, assets=assets, facts=facts, crumbs=[(project, None)]
        )

    async def asset(self, request: Request) -> Response:
        project, asset = _names(request, "project", "asset")
        versions = await self.source.versions(project, asset)
        names = [v.name for v in versions]
        return self.render(
            "asset.html",
            project=project,
            asset=asset,
            versions=versions,
            old=names[-2] if len(names) > 1 else (names[0] if names else ""),
            new=names[-1] if names else "",
            crumbs=[(project, _link("/p/", project)), (asset, None)],
        )

    async def version(self, request: Request) -> Response:
        project, asset, version = _names(request, "project", "asset", "version")
        started = time.perf_counter()
        summary, files, names, latest = await asyncio.gather(
            self.source.summary(project, asset, version),
            self.source.files(project, asset, version),
            self.source.version_names(project, asset),
            self.source.latest(project, asset),
        )
        query = request.query_params.get("q", "")
        sort = request.query_params.get("sort", "path")
        if sort not in _SORTS:
            raise HTTPException(400, f"sort must be one of {', '.join(_SORTS)}")
        descending = request.query_params.get("desc", "") == "1"
        page = _page_number(request)
        paths = _matching(files.paths, query)
        if sort == "path":
            paths.sort(reverse=descending)
            if not files.has_entries:
                # Sorting by size or MD5 needs every entry; build them while the reader looks at this page.
                self.source.soon(files.entries)
        else:
            paths = _sorted(await self.source.run(files.entries), paths, sort, descending)
        pages = max(1, -(-len(paths) // PAGE_SIZE))
        page = min(page, pages)
        shown = [_row(path, files.get(path)) for path in paths[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
        base = _link("/p/", project, asset, version)

        def page_url(**changes: Any) -> str:
            # Defaults are left out so that the plain version URL is the first page sorted by path.
            values = {"q": query, "sort": sort, "desc": "1" if descending else "", "page": str(page)}
            values.update({key: str(value) for key, value in changes.items()})
            defaults = {"q": "", "sort": "path", "desc": "", "page": "1"}
            kept = {key: value for key, value in values.items() if value != defaults[key]}
            return base + ("?" + urllib.parse.urlencode(kept) if kept else "")

        return self.render(
            "version.html",
            project=project,
            asset=asset,
            version=version,
            scope=(project, asset, version),
            summary=summary,
            latest=latest == version,
            others=[name for name in names if name != version],
            files=files,
            rows=shown,
            matched=len(paths),
            entries=len(files.paths),
            query=query,
            sort=sort,
            descending=descending,
            page=page,
            pages=pages,
            page_url=page_url,
            elapsed=time.perf_counter() - started,
            crumbs=[
                (project, _link("/p/", project)),
                (asset, _link("/p/", project, asset)),
                (version, None),
            ],
        )

    async def file(self, request: Request) -> Response:
        project, asset, version = _names(request, "project", "asset", "version")
        path = _checked_path(request.path_params["path"])
        files = await self.source.files(project, asset, version)
        entry = _entry(files.get(path), path, f"{project}/{asset}/{version}")
        registry_path = f"{project}/{asset}/{version}/{path}"
        reader = self.source.range_reader(
            registry_path, entry, budget=LIMITS.parquet_bytes, seconds=LIMITS.seconds
        )
        name = path.rpartition("/")[2]
        try:
            shown = await asyncio.wait_for(
                self.source.run(lambda: preview(reader, name)), timeout=LIMITS.seconds + 1
            )
        except asyncio.TimeoutError:
            shown = None
        download = _link("/raw/", project, asset, version, path=path)
        return self.render(
            "file.html",
            project=project,
            asset=asset,
            version=version,
            scope=(project, asset, version),
            path=path,
            entry=entry,
            target=entry.link,
            preview=shown,
            download=download,
            inline=download + "?inline=1" if image_type(name) else None,
            crumbs=[
                (project, _link("/p/", project)),
                (asset, _link("/p/", project, asset)),
                (version, _link("/p/", project, asset, version)),
                (path, None),
            ],
        )

    async def raw(self, request: Request) -> Response:
        project, asset, version = _names(request, "project", "asset", "version")
        path = _checked_path(request.path_params["path"])
        files = await self.source.files(project, asset, version)
        entry = _entry(files.get(path), path, f"{project}/{asset}/{version}")
        registry_path = f"{project}/{asset}/{version}/{path}"
        name = path.rpartition("/")[2]
        shown_inline = request.query_params.get("inline") == "1" and image_type(name) is not None
        # Read the first chunk before answering, so a missing or unreadable file is an error page and
        # not a truncated download.
        first = await self.source.read_range(registry_path, 0, min(entry.size, _DOWNLOAD_CHUNK), entry)

        async def chunks() -> AsyncIterator[bytes]:
            yield first
            position = len(first)
            while position < entry.size:
                end = min(entry.size, position + _DOWNLOAD_CHUNK)
                data = await self.source.read_range(registry_path, position, end, entry)
                if not data:
                    break
                position += len(data)
                yield data

        # The plain filename is for old clients: printable ASCII only, so that no name can end the header
        # (a newline is a valid file name character) or its quoted string; filename* carries the real name.
        ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
        disposition = "inline" if shown_inline else "attachment"
        headers = {
            "content-disposition": (
                f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{_segment(name)}"
            ),
            "content-length": str(entry.size),
            "content-security-policy": _FILE_POLICY,
            "cache-control": "private, max-age=60",
        }
        media_type = image_type(name) if shown_inline else "application/octet-stream"
        if request.method == "HEAD":
            return Response(b"", headers=headers, media_type=media_type)
        return StreamingResponse(chunks(), headers=headers, media_type=media_type)

    async def compare(self, request: Request) -> Response:
        project, asset = _names(request, "project", "asset")
        names = await self.source.version_names(project, asset)
        old = _checked_name("version", request.query_params.get("old", ""))
        new = _checked_name("version", request.query_params.get("new", ""))
        before, after = await asyncio.gather(
            self.source.files(project, asset, old), self.source.files(project, asset, new)
        )
        comparison = await self.source.run(lambda: compare_manifests(before.manifest, after.manifest))
        return self.render(
            "compare.html",
            project=project,
            asset=asset,
            old=old,
            new=new,
            names=names,
            comparison=comparison,
            crumbs=[
                (project, _link("/p/", project)),
                (asset, _link("/p/", project, asset)),
                (f"{old} → {new}", None),
            ],
        )

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        within = request.query_params.get("in", "")
        scope = tuple(_checked_name("name", name) for name in within.split("/")) if within else ()
        if scope and len(scope) != 3:
            raise HTTPException(400, "'in' must be PROJECT/ASSET/VERSION")
        results: list[tuple[str, str, str]] = []
        complete = True
        if query:
            needle = query.casefold()
            if scope:
                # The version's own paths first: that is where a search from its pages looks.
                project, asset, version = scope
                files = await self.source.files(project, asset, version)
                results += [
                    ("file", path, _link("/f/", project, asset, version, path=path))
                    for path in _matching(files.paths, query)
                    if path not in files.directories
                ][:_SEARCH_RESULTS]
            names, complete = await self._search_names(needle)
            results += names
        return self.render(
            "search.html",
            query=query,
            results=results,
            complete=complete,
            search_page=True,
            scope=scope,
            crumbs=[("search", None)],
        )

    async def _search_names(self, needle: str) -> tuple[list[tuple[str, str, str]], bool]:
        """Projects, assets and versions whose names contain ``needle``, walking the registry by level."""
        deadline = time.monotonic() + _SEARCH_SECONDS
        results: list[tuple[str, str, str]] = []
        listings = 1
        projects = await self.source.projects()
        results += [("project", p, _link("/p/", p)) for p in projects if needle in p.casefold()]
        listings += len(projects)
        if listings > _SEARCH_LISTINGS or time.monotonic() > deadline:
            return results, False
        asset_lists = await asyncio.gather(*(self._quiet(self.source.assets(p)) for p in projects))
        pairs = [(p, a) for p, assets in zip(projects, asset_lists, strict=True) for a in assets]
        results += [("asset", f"{p}/{a}", _link("/p/", p, a)) for p, a in pairs if needle in a.casefold()]
        listings += len(pairs)
        if listings > _SEARCH_LISTINGS or time.monotonic() > deadline:
            return results[:_SEARCH_RESULTS], False
        version_lists = await asyncio.gather(
            *(self._quiet(self.source.version_names(p, a)) for p, a in pairs)
        )
        results += [
            ("version", f"{p}/{a}/{v}", _link("/p/", p, a, v))
            for (p, a), versions in zip(pairs, version_lists, strict=True)
            for v in versions
            if needle in v.casefold()
        ]
        return results[:_SEARCH_RESULTS], len(results) <= _SEARCH_RESULTS

    @staticmethod
    async def _quiet(listing: Awaitable[list[str]]) -> list[str]:
        # A directory removed while the search walks is simply not there.
        try:
            return await listing
        except NotFoundError:
            return []


def _matching(paths: list[str], query: str) -> list[str]:
    if not query:
        return list(paths)
    needle = query.casefold()
    return [path for path in paths if needle in path.casefold()]


def _sorted(entries: dict[str, ManifestEntry], paths: list[str], sort: str, descending: bool) -> list[str]:
    if sort == "size":
        return sorted(paths, key=lambda p: (entries[p].size, p), reverse=descending)
    if sort == "md5":
        return sorted(paths, key=lambda p: (entries[p].md5sum, p), reverse=descending)
    return sorted(paths, reverse=descending)


def _row(path: str, entry: ManifestEntry | None) -> _FileRow:
    assert entry is not None  # the path comes from the same manifest
    target = entry.link
    return _FileRow(
        path=path,
        size=entry.size,
        md5=entry.md5sum,
        link=target.registry_path if target is not None else None,
        link_url=(
            _link("/f/", target.project, target.asset, target.version, path=target.path)
            if target is not None
            else None
        ),
        directory=entry.is_directory,
    )


def _entry(entry: ManifestEntry | None, path: str, version: str) -> ManifestEntry:
    if entry is None or entry.is_directory:
        raise NotFoundError(f"no file {path!r} in {version}")
    return entry


def _status(error: Exception) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, (InvalidRequestError, UnsafePathError)):
        return 400
    if isinstance(error, PermissionDeniedError):
        return 403
    if isinstance(error, ServiceUnavailableError):
        return 503
    return 502


def create_app(
    client: GobblerClient, *, allowed_hosts: list[str] | None = None, workers: int = 8
) -> Starlette:
    """The read-only web interface over ``client``'s registry, as an ASGI application.

    Args:
        client: The client whose registry is shown (the application never closes it).
        allowed_hosts: ``Host`` header names accepted, without port, IPv6 addresses in brackets (default:
            ``127.0.0.1``, ``localhost`` and ``[::1]``), which keeps other web sites from reaching a local
            server through DNS rebinding; ``["*"]`` accepts any.
        workers: Threads reading the registry at once.

    Returns:
        A Starlette application; serve it with uvicorn (``gobbler-sdk browse`` does).
    """
    source = RegistrySource(client, workers=workers)
    pages = _Pages(source)

    async def gobbler_error(request: Request, exc: Exception) -> Response:
        return pages.render("error.html", status=_status(exc), message=str(exc), crumbs=[])

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return pages.render("error.html", status=exc.status_code, message=exc.detail, crumbs=[])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        source.close()

    version = "/p/{project}/{asset}/{version}"
    routes = [
        Route("/", pages.home, methods=["GET"]),
        Route("/search", pages.search, methods=["GET"]),
        Route("/p/{project}", pages.project, methods=["GET"]),
        Route("/p/{project}/{asset}", pages.asset, methods=["GET"]),
        Route(version, pages.version, methods=["GET"]),
        Route("/f/{project}/{asset}/{version}/{path:path}", pages.file, methods=["GET"]),
        Route("/raw/{project}/{asset}/{version}/{path:path}", pages.raw, methods=["GET"]),
        Route("/compare/{project}/{asset}", pages.compare, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    for route in routes:
        if isinstance(route, Route) and "{path:path}" in route.path:
            # A file name may hold a newline, which the route's ".*" would not match without DOTALL.
            route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    hosts = allowed_hosts if allowed_hosts is not None else ["127.0.0.1", "localhost", "[::1]"]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_SecurityHeaders), Middleware(_HostCheck, hosts=hosts)],
        exception_handlers={GobblerError: gobbler_error, HTTPException: http_error},
        lifespan=lifespan,
    )
