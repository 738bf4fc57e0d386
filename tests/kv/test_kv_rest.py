"""The seven KV endpoints (REST reference §4, §10), on every backend, over a real socket."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from support.qbutler import ALL_SWITCHES, base_config, merge, running_service

JSON = "application/json; charset=utf-8"


async def post(api: httpx.AsyncClient, namespace: str, body: dict) -> httpx.Response:
    return await api.post(f"/v4/keyvalues/{namespace}", json=body)


def bad_request(message: str) -> dict:
    return {"statusCode": 400, "error": "Bad Request", "message": message}


async def test_post_then_get_in_butlers_shapes(api):
    created = await post(api, "ns1", {"key": "k1", "value": "v1"})
    assert created.status_code == 201
    assert created.headers["content-type"] == JSON
    assert created.text == '{"namespace":"ns1","key":"k1","value":"v1","ttl":0}'
    got = await api.get("/v4/keyvalues/ns1", params={"key": "k1"})
    assert got.status_code == 200
    assert got.headers["content-type"] == JSON
    assert got.text == '{"namespace":"ns1","key":"k1","value":"v1"}'


@pytest.mark.parametrize(("sent", "stored"), [(123, "123"), (1.5, "1.5"), (True, "true"), (None, ""),
                                              ("text", "text")])
async def test_values_are_stored_as_strings(api, sent, stored):
    created = await post(api, "ns", {"key": "k", "value": sent})
    assert created.json()["value"] == stored
    assert (await api.get("/v4/keyvalues/ns?key=k")).json()["value"] == stored


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
async def test_object_and_array_values_are_refused(api, value):
    response = await post(api, "ns", {"key": "k", "value": value})
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "code": "FST_ERR_VALIDATION", "error": "Bad Request",
                               "message": "body/value must be string"}
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == []


# A fractional TTL (Butler truncates 1500.9 to 1500) is refused: tests/security/test_bad_input.py.
@pytest.mark.parametrize(("sent", "echoed"), [("2000", 2000), (1500.0, 1500), (-5, -5), (None, 0), (0, 0)])
async def test_ttl_is_parsed_as_integer_milliseconds_and_echoed(api, sent, echoed):
    response = await post(api, "ns", {"key": "k", "value": 1, "ttl": sent})
    assert response.status_code == 201
    assert response.json() == {"namespace": "ns", "key": "k", "value": "1", "ttl": echoed}


async def test_ttl_that_is_not_a_number_is_refused(api):
    response = await post(api, "ns", {"key": "k", "value": "v", "ttl": ""})
    assert response.status_code == 400
    assert response.json()["message"] == "body/ttl must be number"


@pytest.mark.parametrize("body", [{"value": "v"}, {"key": "", "value": "v"}])
async def test_missing_or_empty_key_on_post(api, body):
    response = await post(api, "ns", body)
    assert response.status_code == 400
    assert response.json() == bad_request("Required parameter is missing")


async def test_post_without_body_is_a_validation_error(api):
    response = await api.post("/v4/keyvalues/ns")
    assert response.status_code == 400
    assert response.json()["message"] == "body must be object"


async def test_post_without_value_answers_201_stores_nothing_and_creates_the_namespace(api):
    response = await post(api, "ns", {"key": "k"})
    assert response.status_code == 201
    assert response.text == '{"namespace":"ns","key":"k","ttl":0}'
    assert (await api.get("/v4/keyvalues/ns?key=k")).json() == bad_request("Key 'k' not found in namespace: ns")
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["ns"]


async def test_get_errors(api):
    missing = await api.get("/v4/keyvalues/ns")
    assert missing.status_code == 400
    assert missing.json()["message"] == "querystring must have required property 'key'"
    assert (await api.get("/v4/keyvalues/nope?key=k")).json() == bad_request("Namespace not found: nope")
    await post(api, "ns", {"key": "k", "value": "v"})
    absent = await api.get("/v4/keyvalues/ns?key=other")
    assert absent.status_code == 400
    assert absent.json() == bad_request("Key 'other' not found in namespace: ns")
    assert (await api.get("/v4/keyvalues/ns?key=")).json() == bad_request("Key '' not found in namespace: ns")


async def test_keyexists(api):
    assert (await api.get("/v4/keyvalues/ns/keyexists?key=k")).json() == bad_request("Namespace not found: ns")
    await post(api, "ns", {"key": "k", "value": 42})
    found = await api.get("/v4/keyvalues/ns/keyexists?key=k")
    assert found.status_code == 200
    assert found.text == '{"keyExists":true,"keyValue":{"namespace":"ns","key":"k","value":"42"}}'
    absent = await api.get("/v4/keyvalues/ns/keyexists?key=x")
    assert absent.text == '{"keyExists":false,"keyValue":{}}'
    missing = await api.get("/v4/keyvalues/ns/keyexists")
    assert missing.json()["message"] == "querystring must have required property 'key'"


async def test_ttl_expires_the_key_and_the_empty_namespace_stays(api):
    await post(api, "ns", {"key": "k", "value": "v", "ttl": "300"})
    assert (await api.get("/v4/keyvalues/ns?key=k")).status_code == 200
    await asyncio.sleep(0.45)
    assert (await api.get("/v4/keyvalues/ns?key=k")).json() == bad_request("Key 'k' not found in namespace: ns")
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["ns"]
    assert (await api.get("/v4/keylist/ns")).text == '{"namespace":"ns","keys":[]}'
    assert (await api.delete("/v4/keyvalues/ns")).status_code == 204


async def test_a_load_script_deletes_its_last_key_then_clears_the_namespace(api):
    # Switching from Butler needs no script edit: the namespace outlives its last key.
    await post(api, "ETL", {"key": "run", "value": "1"})
    assert (await api.delete("/v4/keyvalues/ETL/run")).status_code == 204
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["ETL"]
    assert (await api.get("/v4/keyvalues/ETL/keyexists?key=run")).json() == {"keyExists": False, "keyValue": {}}
    assert (await api.delete("/v4/keyvalues/ETL/run")).json() == bad_request("Key 'run' not found in namespace: ETL")
    assert (await api.delete("/v4/keyvalues/ETL")).status_code == 204
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == []
    assert (await api.delete("/v4/keyvalues/ETL")).json() == bad_request("Namespace not found: ETL")


async def test_expired_key_is_gone_while_its_namespace_lives_on(api):
    await post(api, "ns", {"key": "short", "value": "v", "ttl": 250})
    await post(api, "ns", {"key": "long", "value": "v"})
    await asyncio.sleep(0.4)
    assert (await api.get("/v4/keyvalues/ns?key=short")).json() == bad_request(
        "Key 'short' not found in namespace: ns")
    assert (await api.get("/v4/keyvalues/ns/keyexists?key=short")).json()["keyExists"] is False
    assert (await api.get("/v4/keylist/ns")).json() == {"namespace": "ns", "keys": [{"key": "long"}]}
    deleted = await api.delete("/v4/keyvalues/ns/short")
    assert deleted.json() == bad_request("Key 'short' not found in namespace: ns")


async def test_overwrite_resets_the_ttl(api):
    await post(api, "ns", {"key": "renewed", "value": "1", "ttl": 400})
    await post(api, "ns", {"key": "cleared", "value": "1", "ttl": 400})
    await asyncio.sleep(0.25)
    await post(api, "ns", {"key": "renewed", "value": "2", "ttl": 400})
    await post(api, "ns", {"key": "cleared", "value": "2"})
    await asyncio.sleep(0.25)
    # 500 ms after the first writes: both would have expired without the overwrite.
    assert (await api.get("/v4/keyvalues/ns?key=renewed")).json()["value"] == "2"
    assert (await api.get("/v4/keyvalues/ns?key=cleared")).json()["value"] == "2"
    await asyncio.sleep(0.3)
    assert (await api.get("/v4/keyvalues/ns?key=renewed")).status_code == 400
    assert (await api.get("/v4/keyvalues/ns?key=cleared")).status_code == 200


@pytest.mark.parametrize("ttl", [0, -5, "0"])
async def test_ttl_zero_or_negative_never_expires(api, ttl):
    await post(api, "ns", {"key": "k", "value": "v", "ttl": ttl})
    await asyncio.sleep(0.1)
    assert (await api.get("/v4/keyvalues/ns?key=k")).status_code == 200


async def test_namespaces_in_creation_order_until_deleted(api):
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == []
    for namespace in ["Weekly sales app", "Sales ETL step 1", "a"]:
        await post(api, namespace, {"key": "k", "value": "v"})
    await post(api, "Weekly sales app", {"key": "k2", "value": "v"})
    listing = await api.get("/v4/keyvaluesnamespaces")
    assert listing.headers["content-type"] == JSON
    assert listing.json() == ["Weekly sales app", "Sales ETL step 1", "a"]
    assert (await api.delete("/v4/keyvalues/Sales ETL step 1/k")).status_code == 204
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["Weekly sales app", "Sales ETL step 1", "a"]
    assert (await api.delete("/v4/keyvalues/Sales ETL step 1")).status_code == 204
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["Weekly sales app", "a"]


async def test_delete_key(api):
    await post(api, "ns", {"key": "k1", "value": "v"})
    await post(api, "ns", {"key": "k2", "value": "v"})
    deleted = await api.delete("/v4/keyvalues/ns/k1")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers
    assert (await api.delete("/v4/keyvalues/ns/k1")).json() == bad_request("Key 'k1' not found in namespace: ns")
    assert (await api.delete("/v4/keyvalues/nope/k1")).json() == bad_request("Namespace not found: nope")
    assert (await api.delete("/v4/keyvalues/ns/")).json() == bad_request("Required parameter is missing")
    assert (await api.get("/v4/keylist/ns")).json()["keys"] == [{"key": "k2"}]


async def test_bodiless_delete_overrides_from_load_scripts(api):
    await post(api, "ns", {"key": "k1", "value": "v"})
    await post(api, "ns", {"key": "k2", "value": "v"})
    override = {"X-HTTP-Method-Override": "DELETE", "Content-Type": "application/json"}
    assert (await api.post("/v4/keyvalues/ns/k1", headers=override)).status_code == 204
    assert (await api.post("/v4/keyvalues/ns", headers=override)).status_code == 204
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == []


async def test_load_script_add_with_string_ttl(api):
    response = await api.post("/v4/keyvalues/LoadScript", content=b'{"key":"last run","value":"2024-01-01",'
                              b'"ttl":"60000"}', headers={"Content-Type": "application/json"})
    assert response.json() == {"namespace": "LoadScript", "key": "last run", "value": "2024-01-01",
                               "ttl": 60000}


async def test_delete_namespace(api):
    await post(api, "ns", {"key": "k1", "value": "v"})
    await post(api, "other", {"key": "k1", "value": "v"})
    assert (await api.delete("/v4/keyvalues/ns")).status_code == 204
    assert (await api.delete("/v4/keyvalues/ns")).json() == bad_request("Namespace not found: ns")
    assert (await api.get("/v4/keyvalues/ns?key=k1")).json() == bad_request("Namespace not found: ns")
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["other"]


async def test_keylist_is_compact_json_as_text_in_creation_order(api):
    for key in ["k1", "k4", "k2"]:
        await post(api, "ns1", {"key": key, "value": "v"})
    await post(api, "ns1", {"key": "k1", "value": "overwritten"})
    response = await api.get("/v4/keylist/ns1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == '{"namespace":"ns1","keys":[{"key":"k1"},{"key":"k4"},{"key":"k2"}]}'
    assert (await api.get("/v4/keylist/nope")).json() == bad_request("Namespace not found: nope")


async def test_a_recreated_key_goes_to_the_end_of_the_list(api):
    for key in ["a", "b"]:
        await post(api, "ns", {"key": key, "value": "v"})
    await api.delete("/v4/keyvalues/ns/a")
    await post(api, "ns", {"key": "a", "value": "v"})
    assert (await api.get("/v4/keylist/ns")).json()["keys"] == [{"key": "b"}, {"key": "a"}]


@pytest.mark.parametrize(("namespace", "key"), [("ns:colon", "kk"), ("a:b:c", "k:1:2"), ("a", "b:c"),
                                                ("a:b", "c")])
async def test_colons_in_namespaces_and_keys_list_correctly(api, namespace, key):
    # Butler listed namespace "ns:colon", key "kk" as "colon:kk".
    await post(api, namespace, {"key": key, "value": "v"})
    assert (await api.get(f"/v4/keylist/{namespace}")).json() == {"namespace": namespace, "keys": [{"key": key}]}
    assert (await api.get(f"/v4/keyvalues/{namespace}", params={"key": key})).json()["value"] == "v"
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == [namespace]


async def test_colon_namespaces_do_not_collide(api):
    # "a:b" + "c" and "a" + "b:c" are two different keys.
    await post(api, "a:b", {"key": "c", "value": "first"})
    await post(api, "a", {"key": "b:c", "value": "second"})
    assert (await api.get("/v4/keyvalues/a:b?key=c")).json()["value"] == "first"
    assert (await api.get("/v4/keyvalues/a?key=b:c")).json()["value"] == "second"
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["a:b", "a"]


async def test_encoded_names(api):
    await post(api, "my%20ns%2Fx", {"key": "a b", "value": "%23 stays"})
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["my ns/x"]
    got = await api.get("/v4/keyvalues/my%20ns%2Fx?key=a+b")
    assert got.json() == {"namespace": "my ns/x", "key": "a b", "value": "%23 stays"}
    assert (await api.delete("/v4/keyvalues/my%20ns%2Fx/a%20b")).status_code == 204


async def test_a_key_named_keyexists_can_be_deleted(api):
    await post(api, "ns", {"key": "keyexists", "value": "v"})
    await post(api, "ns", {"key": "other", "value": "v"})
    assert (await api.delete("/v4/keyvalues/ns/keyexists")).status_code == 204
    assert (await api.get("/v4/keylist/ns")).json()["keys"] == [{"key": "other"}]


async def test_max_keys_per_namespace_is_enforced(kv_config, tmp_path):
    async with running_service(kv_config(maxKeysPerNamespace=3), tmp_path) as running, running.client() as api:
        for key in ["k1", "k2", "k3"]:
            assert (await post(api, "ns", {"key": key, "value": "v"})).status_code == 201
        refused = await post(api, "ns", {"key": "k4", "value": "v"})
        assert refused.status_code == 400
        message = refused.json()["message"]
        assert "ns" in message and "3" in message and "maxKeysPerNamespace" in message
        # Overwriting is allowed; other namespaces have their own count.
        assert (await post(api, "ns", {"key": "k1", "value": "new"})).status_code == 201
        assert (await post(api, "other", {"key": "k4", "value": "v"})).status_code == 201
        assert (await api.get("/v4/keylist/ns")).json()["keys"] == [{"key": "k1"}, {"key": "k2"}, {"key": "k3"}]
        # Deleting or expiring frees a place.
        await api.delete("/v4/keyvalues/ns/k2")
        assert (await post(api, "ns", {"key": "k4", "value": "v", "ttl": 200})).status_code == 201
        assert (await post(api, "ns", {"key": "k5", "value": "v"})).status_code == 400
        await asyncio.sleep(0.3)
        assert (await post(api, "ns", {"key": "k5", "value": "v"})).status_code == 201


async def test_key_limit_holds_under_concurrent_writes(kv_config, tmp_path):
    async with running_service(kv_config(maxKeysPerNamespace=5), tmp_path) as running, running.client() as api:
        responses = await asyncio.gather(*(post(api, "ns", {"key": f"k{i}", "value": "v"}) for i in range(30)))
        assert sorted(r.status_code for r in responses) == [201] * 5 + [400] * 25
        assert len((await api.get("/v4/keylist/ns")).json()["keys"]) == 5


async def test_limit_zero_means_unlimited(kv_config, tmp_path):
    async with running_service(kv_config(maxKeysPerNamespace=0), tmp_path) as running, running.client() as api:
        await asyncio.gather(*(post(api, "ns", {"key": f"k{i}", "value": "v"}) for i in range(50)))
        assert len((await api.get("/v4/keylist/ns")).json()["keys"]) == 50


async def test_concurrent_writes_are_all_kept(api):
    responses = await asyncio.gather(*(post(api, f"ns{i % 3}", {"key": f"k{i}", "value": i}) for i in range(120)))
    assert {r.status_code for r in responses} == {201}
    for i in (0, 59, 119):
        assert (await api.get(f"/v4/keyvalues/ns{i % 3}?key=k{i}")).json()["value"] == str(i)
    assert sum([len((await api.get(f"/v4/keylist/ns{n}")).json()["keys"]) for n in range(3)]) == 120


async def test_routes_follow_the_endpoint_switch_not_keyvaluestore_enable(tmp_path):
    config = base_config(keyValueStore={"enable": True})
    config["Butler"]["restServerEndpointsEnable"] = merge(ALL_SWITCHES, {"keyValueStore": False})
    async with running_service(config, tmp_path) as running, running.client() as api:
        response = await api.get("/v4/keyvaluesnamespaces")
        assert response.status_code == 404
        assert (await post(api, "ns", {"key": "k", "value": "v"})).status_code == 404
        # The store itself still runs for the areas that use it internally.
        assert await running.service.kv.set_if_absent("alerts", "dedup", "1")


async def test_routes_are_served_when_butlers_enable_flag_is_false(tmp_path):
    async with running_service(base_config(keyValueStore={"enable": False}), tmp_path) as running, \
            running.client() as api:
        assert (await post(api, "ns", {"key": "k", "value": "v"})).status_code == 201


async def test_openapi_document_lists_the_kv_routes(api):
    paths = (await api.get("/documentation/json")).json()["paths"]
    assert set(paths["/v4/keyvalues/{namespace}"]) == {"get", "post", "delete"}
    assert "/v4/keyvalues/{namespace}/keyexists" in paths
    assert "/v4/keyvalues/{namespace}/{key}" in paths
    assert "/v4/keylist/{namespace}" in paths
    assert "/v4/keyvaluesnamespaces" in paths
