"""A Starlette web app that serves registry files through ``AsyncGobblerClient``.

``GET /files/{project}/{asset}/{version}/{path}`` answers with the file (``..latest`` works as a version),
verified against its manifest and cached by the SDK; ``GET /versions/{project}/{asset}`` lists the
versions as JSON. One client serves every request: it is opened when the app starts and closed when it
stops, and a request never blocks the event loop (the SDK's work runs on the client's worker threads).

Run it as a script for a tour: it starts an embedded Gobbler service, uploads a version, serves the app
with uvicorn on 127.0.0.1, fetches a file through it with httpx and stops. In an application, build the
app with :func:`create_app` and serve it with any ASGI server::

    uvicorn --factory 'async_app:create_app'      # GOBBLER_URL names the service
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from gobbler_sdk import AsyncGobblerClient, InvalidNameError, NotFoundError, UnsafePathError


def create_app(url: str | None = None, *, cache: str | None = None) -> Starlette:
    """The app, reading the registry of the service at ``url`` (``GOBBLER_URL`` when ``None``)."""
    client = AsyncGobblerClient(url, cache=cache)

    async def file(request: Request) -> Response:
        path = request.path_params["path"]
        try:
            local = await client.fetch_file(path, progress=False)
        except (NotFoundError, InvalidNameError, UnsafePathError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return FileResponse(local, filename=Path(path).name)

    async def versions(request: Request) -> Response:
        asset = client.project(request.path_params["project"]).asset(request.path_params["asset"])
        try:
            found = await asset.versions()
        except NotFoundError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        latest = await asset.latest()
        return JSONResponse(
            {"versions": [v.name for v in found], "latest": latest.name if latest is not None else None}
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    return Starlette(
        routes=[
            Route("/files/{path:path}", file),
            Route("/versions/{project}/{asset}", versions),
        ],
        lifespan=lifespan,
    )


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the app did not start")
            thread.join(0.01)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def main() -> int:
    from gobbler_sdk import GobblerClient
    from gobbler_sdk.testing import GobblerService

    with GobblerService() as service, tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "source"
        (source / "tables").mkdir(parents=True)
        (source / "tables" / "counts.csv").write_text("place,count\nnorth,12\n")
        with GobblerClient(service.url, cache=Path(scratch) / "cache") as admin:
            admin.create_project("demo")
            admin.project("demo").asset("counts").upload("v1", source)
        app = create_app(service.url, cache=str(Path(scratch) / "app-cache"))
        with serving(app) as base, httpx.Client(base_url=base) as http:
            listed = http.get("/versions/demo/counts").json()
            print("versions:", listed)
            answer = http.get("/files/demo/counts/..latest/tables/counts.csv")
            print("GET /files/demo/counts/..latest/tables/counts.csv:", answer.status_code, repr(answer.text))
            missing = http.get("/files/demo/counts/v1/nope.csv")
            print("GET /files/demo/counts/v1/nope.csv:", missing.status_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
