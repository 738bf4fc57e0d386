"""Building blocks of the typed config, shared by every area's section models."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

# YAML 1.1 (PyYAML) reads these words, unquoted, as booleans; Butler's js-yaml (YAML 1.2) keeps
# them as words. Where a key expects one of them, the boolean is turned back into the word.
_BOOLEAN_WORDS = {True: ("on", "yes", "true"), False: ("off", "no", "false")}


def _null_to_list(value: Any) -> Any:
    # YAML turns a list whose entries are all commented out into null.
    return [] if value is None else value


def _lower_case(value: Any) -> Any:
    # Butler's words are matched case-insensitively (`messageType: Formatted`, `logLevel: INFO`).
    return value.lower() if isinstance(value, str) else value


def _port(value: Any) -> int:
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or str(number) != str(value).strip() or not 1 <= number <= 65535:
        raise PydanticCustomError("port", "expected an integer 1-65535")
    return number


def _port_or_zero(value: Any) -> int:
    # Port 0 asks the OS for a free port: handy for tests and the demo.
    if str(value).strip() == "0":
        return 0
    return _port(value)


Port = Annotated[int, BeforeValidator(_port_or_zero)]
NullableList = BeforeValidator(_null_to_list)
LowerCase = BeforeValidator(_lower_case)


class Section(BaseModel):
    """Base of every config section: unknown keys are kept (and reported) rather than refused."""

    model_config = ConfigDict(extra="allow", validate_default=True)


class Switch(Section):
    """A sub-section that is only an on/off switch, on unless written `enable: false`."""

    enable: bool = True


class NameValue(Section):
    name: str
    value: str = ""


class StaticNameValues(Section):
    """`static: [{name, value}, ...]`: Butler's shape for fixed headers and tags."""

    static: Annotated[list[NameValue], NullableList] = []


def restore_boolean_words(model: type[BaseModel], data: Any) -> None:
    """Turn the booleans YAML made of `off`/`on`/`yes`/`no` back into the word, in place, wherever
    the key is a choice of words that includes it (`scheduler.coordination: off`)."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        annotation = field.annotation
        if isinstance(value, bool) and get_origin(annotation) is Literal:
            data[key] = next((word for word in _BOOLEAN_WORDS[value] if word in get_args(annotation)), value)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            restore_boolean_words(annotation, value)
        elif get_origin(annotation) is list and isinstance(value, list):
            item = get_args(annotation)[0] if get_args(annotation) else None
            if isinstance(item, type) and issubclass(item, BaseModel):
                for entry in value:
                    restore_boolean_words(item, entry)
