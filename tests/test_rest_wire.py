"""The Butler wire contract (REST reference §1, §2), observed over a real socket."""

from __future__ import annotations

import ssl

import httpx
import pytest

from qbutler.api import app as app_module
from qbutler.api.routing import RouteTable
from support.qbutler import ALL_SWITCHES, base_config, merge, running_service


@pytest.fixture
async def api(tmp_path):
    async with running_service(base_config(), tmp_path) as running, running.client() as client:
        yield client


async def test_ping_answers_butlers_shape(api: httpx.AsyncClient):
    response = await api.get("/v4/butlerping")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["response", "butlerVersion"]
    assert body["response"] == "Butler reporting for duty"


@pytest.mark.parametrize("path", ["/v4/butlerping/", "/V4/butlerping", "/v4/BUTLERPING", "/v4/nothing"])
async def test_unknown_paths_trailing_slash_and_case_get_fastify_404(api, path):
    response = await api.get(path + "?a=1")
    assert response.status_code == 404
    assert response.text == (
        f'{{"message":"Route GET:{path}?a=1 not found","error":"Not Found","statusCode":404}}')


async def test_wrong_method_is_404(api):
    response = await api.delete("/v4/butlerping")
    assert response.status_code == 404
    assert response.json()["message"] == "Route DELETE:/v4/butlerping not found"


async def test_head_answers_get_routes_without_body(api):
    response = await api.head("/v4/butlerping")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith("application/json")


async def test_method_override_on_post(api):
    response = await api.post("/v4/butlerping", headers={"X-HTTP-Method-Override": "get"})
    assert response.status_code == 200
    assert response.json()["response"] == "Butler reporting for duty"


async def test_method_override_ignored_on_other_methods(api):
    response = await api.put("/v4/butlerping", headers={"X-HTTP-Method-Override": "GET"})
    assert response.status_code == 404
    assert response.json()["message"] == "Route PUT:/v4/butlerping not found"


async def test_override_reports_the_effective_method_in_404(api):
    response = await api.post("/v4/butlerping", headers={"x-http-method-override": "PATCH"})
    assert response.json()["message"] == "Route PATCH:/v4/butlerping not found"


async def test_base62_to_base16_and_back(api):
    response = await api.get("/v4/base62tobase16", params={"base62": "6DMW88LpSok9Z7P7hUK0wv7bF"})
    assert response.text == ('{"base62":"6DMW88LpSok9Z7P7hUK0wv7bF",'
                             '"base16":"3199af08bfeeaf5d420f27ed9c01e74370077"}')
    back = await api.get("/v4/base16tobase62", params={"base16": "3199af08bfeeaf5d420f27ed9c01e74370077"})
    assert back.text == response.text


async def test_base16_empty_input(api):
    response = await api.get("/v4/base16tobase62?base16=")
    assert response.json() == {"base62": "0", "base16": ""}


@pytest.mark.parametrize(("path", "param"), [("/v4/base62tobase16", "base62"),
                                             ("/v4/base16tobase62", "base16")])
async def test_missing_query_parameter_is_validation_error(api, path, param):
    response = await api.get(path)
    assert response.status_code == 400
    assert response.text == ('{"statusCode":400,"code":"FST_ERR_VALIDATION","error":"Bad Request",'
                             f'"message":"querystring must have required property \'{param}\'"}}')


async def test_repeated_query_parameter_is_validation_error(api):
    response = await api.get("/v4/base16tobase62?base16=a&base16=b")
    assert response.status_code == 400
    assert response.json()["message"] == "querystring/base16 must be string"


@pytest.mark.parametrize(("path", "query", "message"), [
    # Butler answers 500 "Failed converting from ..." here; qbutler 400 (docs/compatibility.md).
    ("/v4/base62tobase16", "base62=a-b", "querystring/base62 is not a base62 number: '-' is not one of its digits"),
    ("/v4/base16tobase62", "base16=ABC", "querystring/base16 is not a base16 number: 'A' is not one of its digits"),
])
async def test_characters_outside_the_alphabet_are_400_naming_the_field(api, path, query, message):
    response = await api.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "error": "Bad Request", "message": message}


async def test_endpoints_enabled_lists_true_leaves_in_file_order(tmp_path):
    switches = {"butlerping": True, "apiListEnabledEndpoints": True, "fileCopy": False,
                "scheduler": {"getSchedule": True, "updateSchedule": True, "stopSchedule": "yes"},
                "keyValueStore": True}
    config = base_config(restServerEndpointsEnable=None)
    config["Butler"]["restServerEndpointsEnable"] = switches
    async with running_service(config, tmp_path) as running, running.client() as client:
        response = await client.get("/v4/configfile/endpointsenabled")
    assert response.json() == ["butlerping", "apiListEnabledEndpoints", "getSchedule", "updateSchedule",
                               "keyValueStore"]


async def test_disabled_endpoint_is_not_registered(tmp_path):
    config = base_config()
    config["Butler"]["restServerEndpointsEnable"] = merge(ALL_SWITCHES, {"butlerping": False})
    async with running_service(config, tmp_path) as running, running.client() as client:
        response = await client.get("/v4/butlerping")
        assert response.status_code == 404
        assert response.json()["message"] == "Route GET:/v4/butlerping not found"
        assert (await client.get("/v4/base16tobase62?base16=ff")).status_code == 200
        document = (await client.get("/documentation/json")).json()
    assert "/v4/butlerping" not in document["paths"]
    assert "/v4/base16tobase62" in document["paths"]


@pytest.fixture
async def echo_api(tmp_path, monkeypatch):
    """A route with a body schema, to exercise the shared body rules."""
    table = RouteTable("Test")
    schema = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "ttl": {"type": "number"}, "overwrite": {"type": "boolean"},
        "mode": {"type": "string", "enum": ["a", "b"]}}}

    @table.put("/v4/echo", body=schema)
    async def echo(request, ctx):
        return request.json

    @table.delete("/v4/echo/{name}")
    async def delete(request, ctx):
        return {"deleted": request.params["name"]}

    monkeypatch.setattr(app_module, "ROUTE_TABLES", [*app_module.ROUTE_TABLES, table])
    async with running_service(base_config(), tmp_path) as running, running.client() as client:
        yield client


async def test_lenient_coercion(echo_api):
    response = await echo_api.put("/v4/echo", json={"name": 5, "ttl": "60000", "overwrite": "true",
                                                    "extra": {"kept": True}})
    assert response.json() == {"name": "5", "ttl": 60000, "overwrite": True, "extra": {"kept": True}}
    response = await echo_api.put("/v4/echo", json={"name": True, "overwrite": 0, "ttl": None})
    assert response.json() == {"name": "true", "overwrite": False, "ttl": 0}


@pytest.mark.parametrize(("body", "message"), [
    ({}, "body must have required property 'name'"),
    ({"name": "x", "ttl": ""}, "body/ttl must be number"),
    ({"name": "x", "ttl": "abc"}, "body/ttl must be number"),
    ({"name": "x", "overwrite": "yes"}, "body/overwrite must be boolean"),
    ({"name": {"a": 1}}, "body/name must be string"),
    ({"name": "x", "mode": "c"}, "body/mode must be equal to one of the allowed values"),
    ([1, 2], "body must be object"),
])
async def test_validation_errors_use_ajv_wording(echo_api, body, message):
    response = await echo_api.put("/v4/echo", json=body)
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "code": "FST_ERR_VALIDATION", "error": "Bad Request",
                               "message": message}


async def test_text_plain_body_fails_object_schema(echo_api):
    response = await echo_api.put("/v4/echo", content=b'{"name":"x"}', headers={"content-type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["message"] == "body must be object"


async def test_missing_body_fails_object_schema(echo_api):
    response = await echo_api.put("/v4/echo")
    assert response.status_code == 400
    assert response.json()["message"] == "body must be object"


async def test_unsupported_content_type_is_415(echo_api):
    response = await echo_api.put("/v4/echo", content=b"name=x",
                                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert response.json() == {"statusCode": 415, "code": "FST_ERR_CTP_INVALID_MEDIA_TYPE",
                               "error": "Unsupported Media Type", "message": "Unsupported Media Type"}


async def test_body_without_content_type_is_415(echo_api):
    response = await echo_api.put("/v4/echo", content=b'{"name":"x"}', headers={"content-type": ""})
    assert response.status_code == 415


async def test_body_over_one_mebibyte_is_413(echo_api):
    response = await echo_api.put("/v4/echo", json={"name": "x" * (1024 * 1024)})
    assert response.status_code == 413
    assert response.json() == {"statusCode": 413, "code": "FST_ERR_CTP_BODY_TOO_LARGE",
                               "error": "Payload Too Large", "message": "Request body is too large"}


async def test_malformed_json_is_400(echo_api):
    response = await echo_api.put("/v4/echo", content=b'{"name":', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "FST_ERR_CTP_INVALID_JSON_BODY"
    assert response.json()["message"] == "Body is not valid JSON but content-type is set to 'application/json'"


async def test_empty_json_body_where_a_body_is_required_is_400(echo_api):
    response = await echo_api.put("/v4/echo", content=b"", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400, "code": "FST_ERR_CTP_EMPTY_JSON_BODY", "error": "Bad Request",
        "message": "Body cannot be empty when content-type is set to 'application/json'"}


async def test_empty_json_body_accepted_on_bodiless_route_through_override(echo_api):
    response = await echo_api.post("/v4/echo/abc", content=b"", headers={
        "content-type": "application/json", "X-HTTP-Method-Override": "DELETE"})
    assert response.status_code == 200
    assert response.json() == {"deleted": "abc"}


async def test_path_parameters_are_url_decoded(echo_api):
    response = await echo_api.delete("/v4/echo/a%20b%2Fc+d")
    assert response.json() == {"deleted": "a b/c+d"}


async def test_empty_path_segment_matches_a_parameter(echo_api):
    response = await echo_api.delete("/v4/echo/")
    assert response.json() == {"deleted": ""}


async def test_openapi_document_describes_registered_routes(api):
    response = await api.get("/documentation/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {"/v4/butlerping", "/v4/configfile/endpointsenabled",
                                      "/v4/base62tobase16", "/v4/base16tobase62"}
    page = await api.get("/documentation")
    assert page.status_code == 200 and "swagger" in page.text.lower()


async def test_rate_limit_headers_and_429(tmp_path):
    config = base_config(restServerConfig={"rateLimit": {"enable": True, "maxPerMinute": 3}})
    async with running_service(config, tmp_path) as running, running.client() as client:
        answers = [await client.get("/v4/butlerping") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert answers[0].headers["x-ratelimit-remaining"] == "2"
    assert "retry-after" in answers[3].headers
    body = answers[3].json()
    assert body["statusCode"] == 429 and body["error"] == "Too Many Requests"
    assert body["message"].startswith("Rate limit exceeded, retry in ")


async def test_no_rate_limit_headers_unless_configured(api):
    response = await api.get("/v4/butlerping")
    assert "x-ratelimit-limit" not in response.headers


async def test_optional_tls_listener(tmp_path):
    from support.tls import self_signed

    cert, key = self_signed(tmp_path)
    config = base_config(restServerConfig={"tls": {"enable": True, "cert": cert.name, "key": key.name}})
    async with running_service(config, tmp_path) as running:
        assert running.url.startswith("https://")
        async with httpx.AsyncClient(base_url=running.url, verify=ssl.create_default_context(cafile=cert)) as client:
            response = await client.get("/v4/butlerping")
        assert response.status_code == 200
        async with httpx.AsyncClient(base_url=running.url.replace("https", "http")) as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get("/v4/butlerping")
