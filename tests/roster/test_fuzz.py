"""Bad input never makes the API fail with a 5xx: hypothesis sends arbitrary JSON. SQLite and PostgreSQL.

JSON here includes what strict encoders refuse but request parsers accept:
NaN, infinities, lone surrogate escapes, NUL characters and huge integers.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carehub.roster.domain.kinds import RecordKind
from carehub.roster.schemas import SCHEMAS
from tests.roster.test_api_basics import seed_people, visit_rec

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "😀", "C1", "W1", "2026-03-29T08:00:00", "25:00"]),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4), max_leaves=12
)


def record_like(kind: RecordKind) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts using the kind's real field names, each with any JSON value: they get deep into validation."""
    fields = list(SCHEMAS[kind].model_fields)
    return st.dictionaries(st.sampled_from([*fields, "extra"]), json_values, max_size=len(fields) + 1)


def any_record(kind: RecordKind) -> st.SearchStrategy[Any]:
    return st.one_of(record_like(kind), json_values)


kinds = st.sampled_from(list(RecordKind))


def _send(api: TestClient, method: str, url: str, body: Any) -> int:
    """Send ``body`` encoded as Python's json module does (NaN and lone surrogates included)."""
    content = json.dumps(body, allow_nan=True).encode()
    r = api.request(method, url, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, (method, url, content[:500], r.text[:500])
    json.loads(r.text)  # every answer is JSON
    return r.status_code


@FUZZ
@given(kind=kinds, records=st.lists(st.one_of(any_record(RecordKind.VISIT), any_record(RecordKind.CLIENT)), max_size=5))
def test_fuzz_batch_post_never_fails(api: TestClient, kind: RecordKind, records: list[Any]) -> None:
    assert _send(api, "POST", f"/api/v1/{kind.plural}/batch", {"records": records}) == 200


@FUZZ
@given(kind=kinds, data=st.data())
def test_fuzz_single_put_never_fails(api: TestClient, kind: RecordKind, data: st.DataObject) -> None:
    body = data.draw(any_record(kind))
    external_id = data.draw(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(lambda s: "/" not in s)
    )
    status = _send(api, "PUT", f"/api/v1/{kind.plural}/{quote(external_id, safe='')}", body)
    assert status in {200, 201, 404, 422}


@FUZZ
@given(body=json_values)
def test_fuzz_whole_body_shapes_never_fail(api: TestClient, body: Any) -> None:
    _send(api, "POST", "/api/v1/visits/batch", body)
    _send(api, "POST", "/api/v1/visits/V1/allocations", body)
    _send(api, "POST", "/api/v1/visits/V1/cancel", body)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["q", "status", "start_from", "start_to", "page", "per_page", "version"]),
        st.one_of(nasty_text, st.integers().map(str), st.sampled_from(["2026-03-29T08:00:00+01:00", "1e309", "-1"])),
        max_size=4,
    ),
    kind=kinds,
)
def test_fuzz_list_and_delete_query_parameters_never_fail(
    api: TestClient, params: dict[str, str], kind: RecordKind
) -> None:
    clean = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in params.items()}
    for r in (api.get(f"/api/v1/{kind.plural}", params=clean), api.delete(f"/api/v1/{kind.plural}/X1", params=clean)):
        assert r.status_code < 500, (clean, r.text[:500])


def test_fuzz_findings_stay_fixed(api: TestClient) -> None:
    """Inputs hypothesis once found 500s with, pinned: each is a clear 4xx now."""
    seed_people(api)
    assert _send(api, "PUT", "/api/v1/branches/B2", {"version": 1, "name": "a\x00b"}) == 422
    assert _send(api, "PUT", "/api/v1/branches/B3", {"version": 2**70, "name": "x"}) == 422
    assert _send(api, "PUT", "/api/v1/branches/B4", {"version": float("nan"), "name": "x"}) == 422
    assert _send(api, "PUT", "/api/v1/branches/B5", {"version": 1, "name": "\ud800"}) == 422
    assert _send(api, "POST", "/api/v1/branches/batch", {"records": [{"id": "\ud800", "version": float("inf")}]}) == 200
    assert _send(api, "POST", "/api/v1/visits/batch", {"records": [visit_rec(1, worker_ids=["W\x00"])]}) == 200
    assert _send(api, "POST", "/api/v1/visits/V1/cancel", {"reason": "\x00"}) == 422
    assert _send(api, "POST", "/api/v1/visits/V1/allocations", {"worker_id": "\ud800"}) == 422
    for url in (
        "/api/v1/branches/a%00b",
        "/api/v1/branches/a%00b/history",
        "/api/v1/branches?q=a%00b",
        "/api/v1/clients?status=%00",
        "/api/v1/branches?page=100000000000000000000",
    ):
        assert api.get(url).status_code == 422, url
    assert api.delete("/api/v1/branches/B1?version=100000000000000000000").status_code == 422
    r = api.put(
        "/api/v1/branches/B6", content=b'{"version": NaN, "name": "x"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["value"] == "nan"
