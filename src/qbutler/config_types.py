"""Building blocks of the typed config, shared by every area's section models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError


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

    def unused_keys(self, prefix: str) -> Iterator[str]:
        for key in self.model_extra or {}:
            yield f"{prefix}.{key}"
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Section):
                yield from value.unused_keys(f"{prefix}.{name}")


class NameValue(Section):
    name: str
    value: str = ""


class StaticNameValues(Section):
    """`static: [{name, value}, ...]`: Butler's shape for fixed headers and tags."""

    static: Annotated[list[NameValue], NullableList] = []
