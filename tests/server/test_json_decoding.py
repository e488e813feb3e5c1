"""How request JSON is decoded (PROTOCOL.md 4.6, 17.3; edge case 7): Go's ``encoding/json`` semantics.

``create_project`` is the probe: its ``..permissions`` file shows exactly what was decoded.
"""

from __future__ import annotations

from typing import Any

import pytest

from .harness import Gobbler, Reply, unique


def _create(gobbler: Gobbler, raw: str | bytes) -> Reply:
    return gobbler.request("create_project", raw=raw)


def _permissions(gobbler: Gobbler, project: str) -> Any:
    return gobbler.read_json(project, "..permissions")


def _parse_error(reply: Reply) -> None:
    assert reply.status == 400, reply
    assert reply.reason.startswith(f'failed to parse JSON from "{reply.request_path}"; '), reply


# ------------------------------------------------------------------------------ key matching


@pytest.mark.parametrize("key", ["Project", "PROJECT", "pRoJeCt", "proj\\u0065ct"])
def test_keys_match_case_insensitively(gobbler: Gobbler, key: str) -> None:
    name = unique()
    assert _create(gobbler, f'{{"{key}": "{name}"}}').status == 200
    assert (gobbler.registry / name).is_dir()


def test_long_s_folds_to_s(gobbler: Gobbler) -> None:
    # Go folds keys with Unicode simple folding: U+017F (long s) matches "s".
    name = unique()
    raw = f'{{"project": "{name}", "permi\\u017f\\u017fions": {{"owner\\u017f": ["zz"]}}}}'
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": ["zz"], "uploaders": []}


@pytest.mark.parametrize(
    ("first", "second"), [("PROJECT", "project"), ("project", "PROJECT"), ("project", "project")]
)
def test_last_duplicate_wins(gobbler: Gobbler, first: str, second: str) -> None:
    loser, winner = unique(), unique()
    assert _create(gobbler, f'{{"{first}": "{loser}", "{second}": "{winner}"}}').status == 200
    assert (gobbler.registry / winner).is_dir()
    assert not (gobbler.registry / loser).exists()


def test_unknown_keys_are_ignored(gobbler: Gobbler) -> None:
    name = unique()
    raw = (
        f'{{"project": "{name}", "extra": {{"a": [1, 2, {{}}]}}, "big": 1e999, "n": -0.5e-10, "t": true,'
        f' "permissions": {{"owners": ["a"], "color": "blue"}}, "spoof": "someone"}}'
    )
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": ["a"], "uploaders": []}


# ------------------------------------------------------------------------------ null


def test_null_value_is_absent(gobbler: Gobbler) -> None:
    name = unique()
    raw = (
        f'{{"project": "{name}", "permissions": {{"owners": null, "uploaders": null, "global_write": null}}}}'
    )
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": [gobbler.user], "uploaders": []}


def test_null_permissions_is_absent(gobbler: Gobbler) -> None:
    name = unique()
    assert _create(gobbler, f'{{"project": "{name}", "permissions": null}}').status == 200
    assert _permissions(gobbler, name) == {"owners": [gobbler.user], "uploaders": []}


def test_later_null_clears_an_earlier_value(gobbler: Gobbler) -> None:
    reply = _create(gobbler, f'{{"project": "{unique()}", "project": null}}')
    assert reply.status == 400
    assert reply.reason == f"expected a 'project' property in \"{reply.request_path}\""
    name = unique()
    raw = f'{{"project": "{name}", "permissions": {{"owners": ["a"]}}, "permissions": null}}'
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": [gobbler.user], "uploaders": []}


def test_null_array_elements_are_zero_values(gobbler: Gobbler) -> None:
    name = unique()
    assert (
        _create(gobbler, f'{{"project": "{name}", "permissions": {{"owners": [null, "a"]}}}}').status == 200
    )
    assert _permissions(gobbler, name) == {"owners": ["", "a"], "uploaders": []}


def test_null_uploader_entry_has_no_id(gobbler: Gobbler) -> None:
    reply = _create(gobbler, f'{{"project": "{unique()}", "permissions": {{"uploaders": [null]}}}}')
    assert reply.status == 400
    assert reply.reason == (
        "invalid 'permissions.uploaders' in the request details; "
        "all entries of 'uploaders' should have an 'id' property"
    )


# ------------------------------------------------------------------------------ duplicates merge


def test_repeated_object_keeps_unmentioned_fields(gobbler: Gobbler) -> None:
    name = unique()
    raw = f'{{"project": "{name}", "permissions": {{"owners": ["a"]}}, "permissions": {{"uploaders": []}}}}'
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": ["a"], "uploaders": []}


def test_repeated_array_reuses_earlier_elements(gobbler: Gobbler) -> None:
    name = unique()
    raw = (
        f'{{"project": "{name}", "permissions": {{'
        f'"uploaders": [{{"id": "a", "trusted": true}}], "uploaders": [{{"id": "b"}}],'
        f'"owners": ["x", "y"], "owners": [null, null]}}}}'
    )
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": ["x", "y"], "uploaders": [{"id": "b", "trusted": True}]}


def test_repeated_array_is_truncated_to_the_new_length(gobbler: Gobbler) -> None:
    name = unique()
    raw = f'{{"project": "{name}", "permissions": {{"owners": ["a", "b"], "owners": ["c"]}}}}'
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": ["c"], "uploaders": []}


def test_null_element_of_a_repeated_array_keeps_the_earlier_one(gobbler: Gobbler) -> None:
    name = unique()
    raw = (
        f'{{"project": "{name}",'
        f' "permissions": {{"uploaders": [{{"id": "a", "until": "2030-01-01T00:00:00Z"}}]}},'
        f' "permissions": {{"uploaders": [null]}}}}'
    )
    assert _create(gobbler, raw).status == 200
    expected = [{"id": "a", "until": "2030-01-01T00:00:00Z"}]
    assert _permissions(gobbler, name) == {"owners": [gobbler.user], "uploaders": expected}


def test_null_field_of_a_repeated_element_clears_it(gobbler: Gobbler) -> None:
    name = unique()
    raw = (
        f'{{"project": "{name}",'
        f' "permissions": {{"uploaders": [{{"id": "a", "until": "2030-01-01T00:00:00Z"}}]}},'
        f' "permissions": {{"uploaders": [{{"until": null}}]}}}}'
    )
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name) == {"owners": [gobbler.user], "uploaders": [{"id": "a"}]}


def test_case_insensitive_duplicates_inside_an_element(gobbler: Gobbler) -> None:
    name = unique()
    raw = f'{{"project": "{name}", "permissions": {{"uploaders": [{{"id": "a", "id": "b", "ID": "c"}}]}}}}'
    assert _create(gobbler, raw).status == 200
    assert _permissions(gobbler, name)["uploaders"] == [{"id": "c"}]


# ------------------------------------------------------------------------------ strict types


@pytest.mark.parametrize(
    "fields",
    [
        '"project": 1',
        '"project": true',
        '"project": ["x"]',
        '"project": {}',
        '"project": "x", "permissions": []',
        '"project": "x", "permissions": "owners"',
        '"project": "x", "permissions": {"owners": [1]}',
        '"project": "x", "permissions": {"owners": "a"}',
        '"project": "x", "permissions": {"owners": {}}',
        '"project": "x", "permissions": {"owners": [["a"]]}',
        '"project": "x", "permissions": {"global_write": "true"}',
        '"project": "x", "permissions": {"global_write": 1}',
        '"project": "x", "permissions": {"uploaders": {}}',
        '"project": "x", "permissions": {"uploaders": ["a"]}',
        '"project": "x", "permissions": {"uploaders": [{"id": 1}]}',
        '"project": "x", "permissions": {"uploaders": [{"id": "a", "trusted": "yes"}]}',
        '"project": "x", "permissions": {"uploaders": [{"id": "a", "trusted": 0}]}',
        '"project": "x", "permissions": {"uploaders": [{"id": "a", "until": 20300101}]}',
    ],
)
def test_type_mismatches_are_400(gobbler: Gobbler, fields: str) -> None:
    name = unique()
    reply = _create(gobbler, "{" + fields.replace('"x"', f'"{name}"') + "}")
    _parse_error(reply)
    assert not (gobbler.registry / name).exists()


def test_boolean_strings_are_rejected_elsewhere_too(gobbler: Gobbler, project: str) -> None:
    _parse_error(
        gobbler.request("delete_version", {"project": project, "asset": "a", "version": "v", "force": "true"})
    )
    _parse_error(gobbler.request("reroute_links", {"to_delete": [], "dry_run": "yes"}))
    _parse_error(gobbler.request("refresh_usage", {"project": 5}))


# ------------------------------------------------------------------------------ the document as a whole


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'[{"project": "x"}]',
        b'"x"',
        b"1",
        b"true",
        b"",
        b"   \n",
        b'{"project": "x"} x',
        b'{"project": "x"}{}',
        b'{"project": "x"} null',
        b'{"project": "x",}',
        b'{"project": "x", "n": NaN}',
        b'{"project": "x", "n": Infinity}',
        b'{"project": "x", "n": -Infinity}',
        b'{"project": "x" // comment\n}',
        b"{'project': 'x'}",
        b'\xef\xbb\xbf{"project": "x"}',
        b'{"project": "x"',
        b'{"project": "\\q"}',
    ],
)
def test_malformed_documents_are_400(gobbler: Gobbler, raw: bytes) -> None:
    _parse_error(_create(gobbler, raw))


@pytest.mark.parametrize("raw", [b"null", b" null \n", b"{}"])
def test_null_document_behaves_like_an_empty_object(gobbler: Gobbler, raw: bytes) -> None:
    reply = _create(gobbler, raw)
    assert reply.status == 400
    assert reply.reason == f"expected a 'project' property in \"{reply.request_path}\""


def test_whitespace_around_the_object_is_fine(gobbler: Gobbler) -> None:
    name = unique()
    assert _create(gobbler, f' \t\r\n{{"project": "{name}"}} \t\r\n').status == 200


def test_lone_surrogate_becomes_the_replacement_character(gobbler: Gobbler) -> None:
    name = unique()
    assert _create(gobbler, f'{{"project": "\\ud800{name}"}}').status == 200
    assert (gobbler.registry / f"\ufffd{name}").is_dir()


def test_surrogate_pair_is_one_character(gobbler: Gobbler) -> None:
    name = unique()
    assert _create(gobbler, f'{{"project": "\\ud83d\\ude00{name}"}}').status == 200
    assert (gobbler.registry / f"\U0001f600{name}").is_dir()


def test_invalid_utf8_becomes_the_replacement_character(gobbler: Gobbler) -> None:
    name = unique()
    assert _create(gobbler, b'{"project": "' + name.encode() + b'\xff"}').status == 200
    assert (gobbler.registry / f"{name}\ufffd").is_dir()


def test_escapes_and_unicode_in_names(gobbler: Gobbler) -> None:
    name = unique()
    assert _create(gobbler, f'{{"project": "{name}\\u00e9\\t\\"<&>"}}').status == 200
    assert (gobbler.registry / f'{name}é\t"<&>').is_dir()
