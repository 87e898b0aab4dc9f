"""Flux's postBuild substitution as kustomize-controller does it: on the object's YAML text, parsed again. Found on
the control plane tier (tests/controlplane): a quoted `"${VAULT_BACKUP_KEEP:=7}"` reached the API server as the number
3, which it refuses for an env value; cattle's render kept the string and validate passed."""

from __future__ import annotations

from pathlib import Path

from cattle import schemas
from cattle.manifests.substitute import substitute_object
from tests.test_validate import _edit, _problems


def _substitute(obj: object, variables: dict[str, str]) -> object:
    missing: list[str] = []
    result = substitute_object(obj, variables, missing.append)
    assert missing == []
    return result


def test_a_whole_value_takes_the_type_its_text_has_as_flux_parses_it() -> None:
    env = {"env": [{"name": "KEEP", "value": "${KEEP}"}, {"name": "ID", "value": "cluster-${KEEP}"},
                   {"name": "ON", "value": "${FLAG}"}, {"name": "URL", "value": "${EMPTY:=}"}]}
    assert _substitute(env, {"KEEP": "3", "FLAG": "true", "EMPTY": ""}) == {
        "env": [{"name": "KEEP", "value": 3}, {"name": "ID", "value": "cluster-3"}, {"name": "ON", "value": True},
                {"name": "URL", "value": None}]}


def test_text_that_needs_quotes_keeps_them_and_an_unchanged_object_is_returned_as_it_is() -> None:
    route = {"hostnames": ["*.${DOMAIN}"], "note": "'quoted' and a: colon", "count": "7"}
    assert _substitute(route, {"DOMAIN": "example.com"}) == {
        "hostnames": ["*.example.com"], "note": "'quoted' and a: colon", "count": "7"}
    plain = {"a": ["b", {"c": "d"}]}
    assert _substitute(plain, {"DOMAIN": "x"}) is plain


def test_validate_refuses_a_number_where_the_api_server_wants_a_string(repo_copy: Path) -> None:
    path = repo_copy / "platform/configs/base/openbao-backup/cronjob.yaml"
    _edit(path, "                - name: SEAL_KEY_FILE\n",
          "                - name: KEEP\n                  value: \"${VAULT_BACKUP_KEEP:=7}\"\n"
          "                - name: SEAL_KEY_FILE\n")
    problems = _problems(repo_copy)
    assert problems and all("CronJob openbao/openbao-backup" in p for p in problems), problems
    assert any("is not of type 'string'" in p for p in problems), problems


def test_a_null_is_checked_as_the_api_server_takes_it(repo_copy: Path) -> None:
    """A built-in object's null is the zero value; a custom resource's null string is refused (the real API server
    refused ObjectStore's `endpointURL: null` on the control plane tier, which staging's and production's empty
    BACKUP_S3_ENDPOINT made)."""
    assert schemas.without_nulls({"a": None, "b": [{"c": None, "d": 1}], "e": {"f": None}}) == {
        "b": [{"d": 1}], "e": {}}
    _edit(repo_copy / "apps/base/miniflux/backup.yaml", "  retentionPolicy: ${DB_RETENTION:=7d}\n",
          "  retentionPolicy: ${NO_SUCH_RETENTION:=}\n")
    problems = _problems(repo_copy)
    assert any("ObjectStore feeds/feeds-backups" in p and "retentionPolicy: None is not of type 'string'" in p
               for p in problems), problems
    cronjob = repo_copy / "platform/configs/base/openbao-backup/cronjob.yaml"
    _edit(cronjob, "                - name: SEAL_KEY_FILE\n",
          "                - name: UNSET\n                  value: ${NO_SUCH_VALUE:=}\n"
          "                - name: SEAL_KEY_FILE\n")
    assert not [p for p in _problems(repo_copy) if "CronJob" in p]
