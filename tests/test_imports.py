"""What importing the package loads: the embedded service must not pay for the client's dependencies.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# The SDK client's third-party dependencies; the embedded service uses none of them.
CLIENT_DEPENDENCIES = ("pydantic", "httpx", "tenacity", "platformdirs")


def run_python(code: str) -> object:
    """Run ``code`` in a new interpreter and return the JSON it prints on its last line."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_service_entry_point_loads_no_client_dependency() -> None:
    # Everything ``python -m gobbler_sdk.server -h`` imports, then the package's public server API.
    loaded = run_python(
        f"""
        import contextlib, io, json, runpy, sys
        sys.argv = ["gobbler_sdk.server", "-h"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            with contextlib.suppress(SystemExit):
                runpy.run_module("gobbler_sdk.server", run_name="__main__", alter_sys=True)
        import gobbler_sdk.server
        print(json.dumps([name for name in {CLIENT_DEPENDENCIES!r} if name in sys.modules]))
        """
    )
    assert loaded == []


def test_importing_the_package_alone_loads_no_client_dependency() -> None:
    loaded = run_python(
        f"""
        import json, sys
        import gobbler_sdk
        assert gobbler_sdk.__version__
        print(json.dumps([name for name in {CLIENT_DEPENDENCIES!r} if name in sys.modules]))
        """
    )
    assert loaded == []


def test_every_public_name_resolves_on_first_access() -> None:
    facts = run_python(
        """
        import json
        import gobbler_sdk
        listed = sorted(name for name in gobbler_sdk.__all__ if name in dir(gobbler_sdk))
        client = gobbler_sdk.GobblerClient
        resolved = {name: getattr(gobbler_sdk, name) is not None for name in gobbler_sdk.__all__}
        from gobbler_sdk import GobblerClient, Version
        from gobbler_sdk.handles import Version as HandlesVersion
        try:
            gobbler_sdk.NoSuchName
            missing = "resolved"
        except AttributeError as error:
            missing = str(error)
        print(json.dumps({
            "all": sorted(gobbler_sdk.__all__),
            "listed": listed,
            "client": f"{client.__module__}.{client.__qualname__}",
            "same": GobblerClient is client and Version is HandlesVersion,
            "resolved": sorted(name for name, ok in resolved.items() if ok),
            "missing": missing,
        }))
        """
    )
    assert isinstance(facts, dict)
    assert facts["listed"] == facts["all"]
    assert facts["resolved"] == facts["all"]
    assert facts["client"] == "gobbler_sdk.client.GobblerClient"
    assert facts["same"] is True
    assert facts["missing"] == "module 'gobbler_sdk' has no attribute 'NoSuchName'"


def test_star_import_gives_every_public_name() -> None:
    names = run_python(
        """
        import json
        namespace = {}
        exec("from gobbler_sdk import *", namespace)
        import gobbler_sdk
        same = [n for n in gobbler_sdk.__all__ if namespace.get(n) is getattr(gobbler_sdk, n)]
        print(json.dumps(sorted(same)))
        """
    )
    import gobbler_sdk

    assert names == sorted(gobbler_sdk.__all__)
