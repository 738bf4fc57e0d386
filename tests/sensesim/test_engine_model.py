"""Unit tests of the Engine's building blocks: routes, user header, params, shapes."""

from __future__ import annotations

import pytest

from sensesim.engine import parse_qlik_user, parse_route
from sensesim.engine_model import AppModel, resolve_qdata, script_assignments
from sensesim.engine_rpc import EngineError, Param, bind_params, delta_wrap
from sensesim.state import NULL_DATE, build_state

SPEC = (Param("qDocName", str), Param("qNoData", bool, True, False), Param("qMode", int, True, 0))


@pytest.mark.parametrize(
    ("path", "app_id"),
    [
        ("/", None),
        ("", None),
        ("/app", None),
        ("/app/", None),
        ("/app/engineData", None),
        ("/app/abc?reloadUri=x", "abc"),
        ("/app/abc/identity/me", "abc"),
        ("/app/abc/ttl/30", "abc"),
        ("/app/abc/identity/me/ttl/30", "abc"),
    ],
)
def test_routes_that_connect(path: str, app_id: str | None) -> None:
    route = parse_route(path)
    assert route is not None and route.app_id == app_id


@pytest.mark.parametrize("path", ["/qrs/about", "/app/abc/extra", "/app/abc/ttl", "/apps/abc"])
def test_routes_that_do_not(path: str) -> None:
    assert parse_route(path) is None


def test_user_header_parsing() -> None:
    user = parse_qlik_user("UserDirectory=INTERNAL; UserId=sa_repository")
    assert user is not None and user.domain_user == "INTERNAL\\sa_repository"
    user = parse_qlik_user(" userid = Anna%20S ;USERDIRECTORY=ACME")
    assert user is not None and (user.directory, user.user_id) == ("ACME", "Anna S")
    for bad in (None, "", "UserId=x", "UserDirectory=x;UserId=", "nonsense"):
        assert parse_qlik_user(bad) is None


def test_bind_positional_named_and_defaults() -> None:
    assert bind_params(SPEC, ["a"]) == {"qDocName": "a", "qNoData": False, "qMode": 0}
    assert bind_params(SPEC, ["a", True, 2]) == {"qDocName": "a", "qNoData": True, "qMode": 2}
    assert bind_params(SPEC, {"qMode": 1, "qDocName": "a"}) == {"qDocName": "a", "qNoData": False, "qMode": 1}
    # Null for an optional param means "use the default".
    assert bind_params(SPEC, ["a", None]) == {"qDocName": "a", "qNoData": False, "qMode": 0}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ([], "qDocName"),
        ([1], "qDocName"),
        (["a", 1], "qNoData"),
        (["a", False, True], "qMode"),  # a boolean is not a number
        (["a", False, 1.5], "qMode"),
        ({"qDocName": "a", "qBogus": 1}, "qBogus"),
        ("a", "params must be an array or an object"),
    ],
)
def test_bind_rejects(params: object, parameter: str) -> None:
    with pytest.raises(EngineError) as caught:
        bind_params(SPEC, params)
    assert caught.value.code == -32602 and caught.value.parameter == parameter


def test_bind_defaults_are_copies() -> None:
    spec = (Param("qParams", dict, True, {"qMode": 0}),)
    bind_params(spec, [])["qParams"]["qMode"] = 5
    assert bind_params(spec, [])["qParams"] == {"qMode": 0}


def test_delta_wrap() -> None:
    assert delta_wrap({"qReturn": True, "qInfos": []}) == {
        "qReturn": [{"op": "add", "path": "/", "value": True}],
        "qInfos": [{"op": "add", "path": "/", "value": []}],
    }


def test_script_assignments() -> None:
    script = (
        "SET ThousandSep=',';\r\nlet vNow = Now();\n"
        "SET DateFormat=\"YYYY-MM-DD\";\nLOAD 1;\nSET ThousandSep='.';"
    )
    assert script_assignments(script) == {
        "ThousandSep": ("SET", "."),
        "vNow": ("LET", "Now()"),
        "DateFormat": ("SET", "YYYY-MM-DD"),
    }


def test_resolve_qdata_prefers_layout_then_properties() -> None:
    layout = {"qInfo": {"qId": "x"}, "qMeta": {"title": "T"}}
    props = {"qMetaDef": {"title": "P"}, "a/b": {"~": 1}}
    definition = {
        "id": "/qInfo/qId",
        "t": "/qMetaDef/title",
        "esc": "/a~1b/~0",
        "gone": "/nope",
        "n": {"m": "/qMeta"},
    }
    assert resolve_qdata(definition, layout, props) == {
        "id": "x",
        "t": "P",
        "esc": 1,
        "n": {"m": {"title": "T"}},
    }


def _model(script: str, last_reload: str = "2024-01-10T05:47:52.000Z") -> AppModel:
    state = build_state({"apps": [{"name": "A", "script": script, "variables": [{"id": "v", "name": "vX"}]}]})
    app = next(iter(state.apps.values()))
    return AppModel(
        app, state.site, script=script, reloaded_script=script, last_reload_time=last_reload, has_data=True
    )


def test_locale_and_section_access_come_from_the_script() -> None:
    model = _model("SET ThousandSep=' ';\nSET FirstWeekDay=0;\nSection Access;\nLOAD 1;")
    locale = model.locale_info()
    assert locale["qThousandSep"] == " " and locale["qFirstWeekDay"] == 0 and locale["qDecimalSep"] == "."
    assert model.app_properties()["qHasSectionAccess"] is True


def test_script_variables_exist_only_after_a_reload() -> None:
    script = "SET ThousandSep=',';\nLET vRows = 10;"
    reloaded = {e.props["qName"] for e in _model(script).variables.values()}
    assert reloaded == {"vX", "ThousandSep", "vRows"}
    never = {e.props["qName"] for e in _model(script, NULL_DATE).variables.values()}
    assert never == {"vX"}
    literal = _model(script).variable_by_name("vRows")
    assert literal is not None and literal.computed["qNum"] == 10.0
