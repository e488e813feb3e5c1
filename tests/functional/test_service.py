"""start_gobbler and stop_gobbler: the process-wide test service (ours only: pygobbler's downloads)."""

from __future__ import annotations

import os

import pytest

import gobbler_sdk.functional as sdk
from gobbler_sdk import ServiceUnavailableError
from gobbler_sdk.functional import _clients
from gobbler_sdk.testing import current_service

from .conftest import me, unique


def test_start_reuse_and_stop() -> None:
    if current_service() is not None:
        pytest.skip("another test in this process runs the process-wide service")
    created, staging, registry, url = sdk.start_gobbler(admin=[me()])
    try:
        assert created is True
        assert os.path.isdir(staging) and os.path.isdir(registry)
        assert sdk.service_info(url) == {"registry": registry, "staging": staging}
        # While it runs, further calls return the same service, whatever their arguments.
        assert sdk.start_gobbler(port=1) == (False, staging, registry, url)
        project = unique("service")
        sdk.create_project(project, staging, url)
        assert sdk.list_projects(registry, url, force_remote=True) == [project]
    finally:
        sdk.stop_gobbler()
    assert current_service() is None
    assert not any(key[0] == url for key in _clients._clients)
    assert not os.path.exists(registry)  # temporary directories it made are removed
    with pytest.raises(ServiceUnavailableError):
        sdk.service_info(url)
    sdk.stop_gobbler()  # stopping again is a no-op
    sdk.stop_gobbler()
