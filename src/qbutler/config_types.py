"""Building blocks of the typed config, shared by every area's section models."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

# YAML 1.1 (PyYAML) reads these words, unquoted, as booleans; Butler's js-yaml (YAML 1.2) keeps
# them as words. Where a key expects one of them, the boolean is turned back into the word.
_BOOLEAN_WORDS = {True: ("on", "yes", "true"), False: ("off", "no", "false")}


def _null_to_list(value: Any) -> Any:
    # YAML turns a list whose entries are all commented out into null.
    return [] if value is None else value


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


class Section(BaseModel):
    """Base of every config section: unknown keys are kept (and reported) rather than refused."""

    model_config = ConfigDict(extra="allow", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _boolean_as_word(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, bool) or info.field_name is None:
            return value
        annotation = cls.model_fields[info.field_name].annotation
        if get_origin(annotation) is not Literal:
            return value
        allowed = get_args(annotation)
        return next((word for word in _BOOLEAN_WORDS[value] if word in allowed), value)
