"""Bounded memory on bad answers: what is read into memory stops at ``max_response_size``, typed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, RemoteTransport, ResponseTooLargeError, ServiceError
from gobbler_sdk._cache import Cache

from .support import Answer, LyingServer

PIECE = b'"' + b"a" * 1000 + b'",'

CHILD = """
import resource, sys
from gobbler_sdk import GobblerClient, ResponseTooLargeError
client = GobblerClient(sys.argv[1], transport="remote", registry="/nowhere", retries=0,
                       max_response_size=int(sys.argv[2]), cache=sys.argv[3])
client.project("warm").assets()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    client.project("p").assets()
except ResponseTooLargeError as exc:
    print("typed", exc, file=sys.stderr)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024)
"""


def test_an_endless_listing_fails_typed_with_bounded_memory(lying: LyingServer, tmp_path: Path) -> None:
    lying.answer("/list?path=warm", Answer(body=["a/"]))
    # Up to 512 MiB unless the client hangs up: before the cap, the client buffered all of it.
    lying.answer("/list?path=p", Answer(body=b"[" + PIECE, endless=True, endless_limit=512 << 20))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, lying.url, str(8 << 20), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "typed" in result.stderr and "larger than 8388608 bytes" in result.stderr
    growth_mib = int(result.stdout.strip())
    assert growth_mib < 64, f"RSS grew by {growth_mib} MiB"


@pytest.mark.parametrize("stack", ["fast", "httpx"])
@pytest.mark.parametrize("announced", [True, False], ids=["announced", "unannounced"])
def test_answers_past_the_cap_are_refused(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, stack: str, announced: bool
) -> None:
    body = b"[" + b'"x",' * 5000 + b'"y"]'
    answer = Answer(body=body) if announced else Answer(body=body, endless=True, endless_limit=len(body))
    lying.answer("/list?path=p", answer)
    lying.answer("/fetch/p/a/v/..manifest", answer)
    lying.answer("/info", answer)
    client = make_client(
        lying.url, transport="remote", registry="/nowhere", retries=0, max_response_size=10_000
    )
    if stack == "httpx":
        transport = RemoteTransport(
            client._connections.http(),
            Cache(tmp_path / "c2"),
            retries=0,
            limits=client._connections.remote().limits,
        )
        client = make_client(
            lying.url, transport=transport, registry="/nowhere", retries=0, max_response_size=10_000
        )
    for read in (
        lambda: client.project("p").assets(),
        lambda: client.project("p").asset("a").version("v").manifest(),
        client.service_info,
    ):
        with pytest.raises(ResponseTooLargeError) as caught:
            read()
        assert isinstance(caught.value, ServiceError)
    # Below the cap, the same answer is fine.
    lying.answer("/list?path=q", Answer(body=body))
    roomy = make_client(lying.url, transport="remote", registry="/nowhere", max_response_size=len(body))
    assert len(roomy._connections.remote().list("q")) == 5001
