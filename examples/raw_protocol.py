"""The Gobbler protocol by hand: request files, ``POST /new``, ``/list`` and ``/fetch``, no SDK client.

Shows what the SDK does for you: create a project, upload a directory placed in staging, list the
registry and fetch a file back, printing each request and answer.
"""

from __future__ import annotations

import json
import os
import uuid

import httpx

from gobbler_sdk.testing import GobblerService


def submit(service: GobblerService, http: httpx.Client, action: str, payload: dict[str, object]) -> None:
    """Write a request file into staging, announce it, print the answer, remove the file."""
    name = f"request-{action}-{uuid.uuid4().hex}"
    path = service.staging / name
    path.write_text(json.dumps(payload))
    try:
        response = http.post(f"/new/{name}")
    finally:
        path.unlink()
    print(f"POST /new/{name}\n  {json.dumps(payload)}\n  -> {response.status_code} {response.text}")
    response.raise_for_status()


def main() -> None:
    """Run the round trip."""
    binary = os.environ.get("GOBBLER_BINARY")
    with GobblerService(binary=binary) as service, httpx.Client(base_url=service.url) as http:
        print(f"GET /info -> {http.get('/info').text}")
        submit(service, http, "create_project", {"project": "raw"})

        source = service.staging / f"upload-{uuid.uuid4().hex[:8]}"
        (source / "sub").mkdir(parents=True)
        (source / "hello.txt").write_text("hello world\n")
        (source / "sub" / "numbers.txt").write_text("1 2 3\n")
        submit(
            service,
            http,
            "upload",
            {"source": source.name, "project": "raw", "asset": "greetings", "version": "v1"},
        )

        listing = http.get("/list", params={"path": "raw/greetings/v1", "recursive": "true"})
        print(f"GET /list?path=raw/greetings/v1&recursive=true -> {listing.text}")
        manifest = http.get("/fetch/raw/greetings/v1/..manifest").json()
        print(f"GET /fetch/raw/greetings/v1/..manifest -> {json.dumps(manifest)}")
        content = http.get("/fetch/raw/greetings/v1/hello.txt")
        print(f"GET /fetch/raw/greetings/v1/hello.txt -> {content.status_code} {content.text!r}")


if __name__ == "__main__":
    main()
