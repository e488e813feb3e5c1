from __future__ import annotations

from .harness import Gobbler


def test_create_project_writes_permissions_quota_and_usage(gobbler: Gobbler) -> None:
    name = gobbler.create_project()
    assert gobbler.read_text(name, "..usage") == '{ "total": 0 }'
    assert gobbler.read_json(name, "..permissions") == {"owners": [gobbler.user], "uploaders": []}
