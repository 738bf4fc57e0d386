"""The syntax tree compiled to Python closures that do what Handlebars.js's generated JavaScript does
(compiler/compiler.js and javascript-compiler.js): how a mustache is classified (helper call,
ambiguous name, plain path), how paths resolve (`..`, `@data`, block parameters, the "falsy"
lookup of helper names and data), and how programs nest their context, data and depths.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qbutler.handlebars.helpers import BUILTIN, HelperError, Options
from qbutler.handlebars.nodes import Block, Content, Literal, Mustache, Path, Program, SubExpression
from qbutler.handlebars.values import (
    NULL_CONTEXT,
    UNDEFINED,
    is_nullish,
    js_add,
    lookup_property,
    loose_equal,
    to_text,
    truthy,
)

TYPE_CHECKING = False  # typing is not imported at run time: the engine must import fast
if TYPE_CHECKING:
    from typing import Any

# Helpers Handlebars knows at compile time (options.knownHelpers): a simple name among them is
# always a helper call.
KNOWN = frozenset(BUILTIN)
# Compiled by re's cache at first use (not at import: start-up time).
_SCOPED = r"^\.|this(?![A-Za-z0-9_])"


class RenderFailure(Exception):
    """A helper failed while rendering; `position` is the offset of the mustache or block."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


class Frame:
    """One running program: its context, the contexts above it, its @data and block parameters."""

    __slots__ = ("context", "data", "depths", "env", "params")

    def __init__(self, context: Any, depths: tuple[Any, ...], data: dict[str, Any], params: tuple[Any, ...],
                 env: Env):
        self.context, self.depths, self.data, self.params, self.env = context, depths, data, params, env


class Env:
    """What one render call brings: escaping for `{{x}}` and `{{{x}}}`, and the helpers."""

    __slots__ = ("escape", "helpers", "raw")

    def __init__(self, escape: Callable[[Any], str], raw: Callable[[Any], str], helpers: dict[str, Any]):
        self.escape, self.raw, self.helpers = escape, raw, helpers


if TYPE_CHECKING:
    # A program returns what Handlebars.js's generated function returns: usually a string, but the
    # JavaScript `+` of its parts (see _Program), so two adjacent numbers add up.
    Run = Callable[[Frame], Any]
    Eval = Callable[[Frame], Any]


def _noop(context: Any, data: Any = None, params: Any = None) -> str:
    return ""


def _absent(context: Any, data: Any = None, params: Any = None) -> str:
    """options.fn of a helper called without a block: undefined in JavaScript, so calling it throws."""
    raise HelperError("TypeError: options.fn is not a function")


def _enter(run: Run, outer: Frame, context: Any, data: dict[str, Any] | None, params: list[Any] | None) -> str:
    """Handlebars' wrapProgram: a block's program entered with a (new) context."""
    depths = outer.depths
    top = depths[0] if depths else UNDEFINED
    if context is not top and not loose_equal(context, top) and not (context is NULL_CONTEXT and top is None):
        depths = (context, *depths)
    frame = Frame(context, depths, outer.data if data is None else data, (params, *outer.params), outer.env)
    return run(frame)


def _resolve(value: Any, parts: list[str], falsy: bool) -> Any:
    for part in parts:
        if falsy:
            if not truthy(value):
                return value
        elif is_nullish(value):
            return value
        value = lookup_property(value, part)
    return value


def _literal_to_path(node: Any) -> Path:
    """transformLiteralToPath: `{{"x"}}` and `{{1}}` look up a property named by the literal."""
    if isinstance(node, Path):
        return node
    text = to_text(node.original)
    return Path(False, 0, [text], text, node.start)


def _scoped(path: Path) -> bool:
    return re.search(_SCOPED, path.original) is not None


def _simple_id(path: Path) -> bool:
    return len(path.parts) == 1 and not _scoped(path) and not path.depth


class Compiler:
    def __init__(self) -> None:
        # Block parameter names of the programs being compiled, innermost first (options.blockParams).
        self.block_params: list[list[str] | None] = []

    # ------------------------------------------------------------------ programs and statements
    def program(self, program: Program | None) -> Run | None:
        if program is None:
            return None
        self.block_params.insert(0, program.block_params)
        try:
            steps: list[tuple[int, Any]] = []
            for node in program.body:
                if isinstance(node, Content):
                    if node.value:
                        if steps and steps[-1][0] == _TEXT:
                            steps[-1] = (_TEXT, steps[-1][1] + node.value)
                        else:
                            steps.append((_TEXT, node.value))
                elif isinstance(node, Mustache):
                    steps.append((_APPEND, self.mustache(node)))
                elif isinstance(node, Block):
                    steps.append(self.block(node))
        finally:
            self.block_params.pop(0)
        return _Program(steps).run

    def mustache(self, node: Mustache) -> Eval:
        value = self.sexpr(node, node.path, node.params, node.hash, None, None)
        if node.escaped:
            def escaped(frame: Frame) -> Any:
                return frame.env.escape(value(frame))
            return escaped

        def raw(frame: Frame) -> Any:
            return frame.env.raw(value(frame))
        return raw

    def block(self, node: Block) -> tuple[int, Eval]:
        program, inverse = self.program(node.program), self.program(node.inverse)
        value = self.sexpr(node, node.path, node.params, node.hash, program, inverse)
        # A block on a bare name that is not a helper is appended by a separate statement in the
        # generated JavaScript (ambiguousBlockValue), which ends the `+` chain before it.
        path = _literal_to_path(node.path)
        ambiguous = not node.params and node.hash is None and _simple_id(path) and path.parts[0] not in KNOWN \
            and self.block_param_index(path.parts[0]) is None

        def block(frame: Frame) -> Any:
            result = value(frame)
            return "" if is_nullish(result) else result
        return (_STATEMENT if ambiguous else _APPEND), block

    # ------------------------------------------------------------------ expressions
    def sexpr(self, node: Any, path_node: Any, params: list[Any], hash_: Any, program: Run | None,
              inverse: Run | None) -> Eval:
        """A mustache, block or subexpression: classified as Handlebars does (classifySexpr)."""
        path = _literal_to_path(path_node)
        is_block = isinstance(node, Block)
        simple = _simple_id(path)
        block_param = simple and self.block_param_index(path.parts[0]) is not None
        is_helper = not block_param and (isinstance(node, SubExpression) or bool(params) or hash_ is not None)
        eligible = not block_param and (is_helper or simple)
        if eligible and not is_helper and path.parts[0] in KNOWN:
            is_helper = True
        if is_helper:
            return self.helper_call(node, path, params, hash_, program, inverse)
        if eligible:
            return self.ambiguous(node, path, program, inverse, is_block)
        lookup = self.path(path, falsy=False)
        if not is_block:
            return lookup
        options = self.options_maker(path.original, [], None, program, inverse)
        start = node.start

        def simple_block(frame: Frame) -> Any:
            return _call(BUILTIN["blockHelperMissing"], frame.context, [lookup(frame)], options(frame), start)
        return simple_block

    def helper_call(self, node: Any, path: Path, params: list[Any], hash_: Any, program: Run | None,
                    inverse: Run | None) -> Eval:
        name = path.parts[0] if path.parts else ""
        start = node.start
        args = [self.param(p) for p in params]
        options = self.options_maker(path.original, params, hash_, program, inverse)
        if name in KNOWN:
            known = BUILTIN[name]

            def known_call(frame: Frame) -> Any:
                return _call(known, _this(frame), [a(frame) for a in args], options(frame), start)
            return known_call
        simple = _simple_id(path)
        lookup = self.path(path, falsy=True)

        def helper(frame: Frame) -> Any:
            found = frame.env.helpers.get(name) if simple else None
            if found is None:
                value = lookup(frame)
                if truthy(value):
                    raise RenderFailure(f"TypeError: {path.original} is not a function", start)
                found = BUILTIN["helperMissing"]
            return _call(found, _this(frame), [a(frame) for a in args], options(frame), start)
        return helper

    def ambiguous(self, node: Any, path: Path, program: Run | None, inverse: Run | None, is_block: bool) -> Eval:
        """A bare name: a helper if one is registered under it, else the value (invokeAmbiguous)."""
        name = path.parts[0]
        start = node.start
        lookup = self.path(path, falsy=False)
        options = self.options_maker(path.original, [], None, program, inverse)
        block_missing = BUILTIN["blockHelperMissing"]

        def ambiguous(frame: Frame) -> Any:
            helper = frame.env.helpers.get(name)
            if helper is not None:
                return _call(helper, _this(frame), [], options(frame), start)
            value = lookup(frame)
            if is_block:
                # The value goes through blockHelperMissing (a mustache section).
                if is_nullish(value):
                    value = UNDEFINED
                return _call(block_missing, frame.context, [value], options(frame), start)
            return value
        return ambiguous

    def options_maker(self, name: str, params: list[Any], hash_: Any, program: Run | None,
                      inverse: Run | None) -> Callable[[Frame], Options]:
        # Handlebars assigns hash values last to first, so the first of two equal keys wins.
        pairs = [(key, self.param(value)) for key, value in reversed(hash_ or [])]

        def hash_values(frame: Frame) -> dict[str, Any]:
            return {key: value(frame) for key, value in pairs}

        def options(frame: Frame) -> Options:
            def fn(context: Any, data: dict[str, Any] | None = None, params: list[Any] | None = None) -> str:
                return _enter(program, frame, context, data, params)  # type: ignore[arg-type]

            def inv(context: Any, data: dict[str, Any] | None = None, params: list[Any] | None = None) -> str:
                return _enter(inverse, frame, context, data, params)  # type: ignore[arg-type]

            if program is None and inverse is None:
                return Options(name, _absent, _absent, hash_values(frame), frame.data)
            return Options(name, fn if program is not None else _noop, inv if inverse is not None else _noop,
                           hash_values(frame), frame.data)
        return options

    def param(self, node: Any) -> Eval:
        if isinstance(node, Literal):
            value = node.value
            return lambda frame: value
        if isinstance(node, SubExpression):
            return self.sexpr(node, node.path, node.params, node.hash, None, None)
        # A path used as a parameter, hash value or helper name: the plain lookup.
        return self.path(node, falsy=False)

    def block_param_index(self, name: str) -> tuple[int, int] | None:
        for depth, names in enumerate(self.block_params):
            if names and name in names:
                return depth, names.index(name)
        return None

    def path(self, path: Path, falsy: bool) -> Eval:
        """A PathExpression's value (javascript-compiler's lookupOnContext, lookupData, lookupBlockParam)."""
        name = path.parts[0] if path.parts else None
        depth, parts = path.depth, path.parts
        found = None
        if not depth and not _scoped(path) and name:
            found = self.block_param_index(name)
        if found is not None:
            level, index = found
            rest = parts[1:]

            def block_param(frame: Frame) -> Any:
                values = frame.params[level]
                value = values[index] if values is not None and index < len(values) else UNDEFINED
                return _resolve(value, rest, False)
            return block_param
        if not name:  # `this`, `.`, `..` and `{{""}}`: the context itself
            if not depth:
                return lambda frame: frame.context
            return lambda frame: frame.depths[depth] if depth < len(frame.depths) else UNDEFINED
        if path.data:
            def data(frame: Frame) -> Any:
                value: Any = frame.data
                steps = depth
                while truthy(value) and steps:
                    value = value.get("_parent", UNDEFINED) if isinstance(value, dict) else UNDEFINED
                    steps -= 1
                return _resolve(value, parts, True)
            return data
        if not depth:
            if len(parts) == 1 and not falsy:
                key = parts[0]

                def one(frame: Frame) -> Any:
                    context = frame.context
                    if type(context) is dict:
                        return context.get(key, UNDEFINED)
                    return context if is_nullish(context) else lookup_property(context, key)
                return one
            return lambda frame: _resolve(frame.context, parts, falsy)
        return lambda frame: _resolve(frame.depths[depth] if depth < len(frame.depths) else UNDEFINED, parts, falsy)


def _this(frame: Frame) -> Any:
    context = frame.context
    return NULL_CONTEXT if is_nullish(context) else context


def _call(helper: Any, this: Any, args: list[Any], options: Options, start: int) -> Any:
    try:
        return helper(this, args, options)
    except HelperError as exc:
        raise RenderFailure(str(exc), start) from None


_TEXT, _APPEND, _STATEMENT = 0, 1, 2
_UNSET: Any = object()


class _Program:
    """The value of a program as Handlebars.js computes it.

    Its generated function returns `p1 + p2 + …` over the program's parts (text, mustaches, blocks,
    with null and undefined as ""), JavaScript's `+`: two adjacent numbers add up (`{{{a}}}{{{b}}}`
    with 1 and 2 gives "3"). A block on a bare name ends that chain (`buffer += p1 + p2;`) and is
    added on its own (`if (v != null) buffer += v;`); the rest is `return buffer + p3 + p4;`.
    """

    __slots__ = ("constant", "steps")

    def __init__(self, steps: list[tuple[int, Any]]):
        self.steps = tuple(steps)
        self.constant = steps[0][1] if len(steps) == 1 and steps[0][0] == _TEXT else None

    def run(self, frame: Frame) -> Any:
        if self.constant is not None:
            return self.constant
        chain: list[Any] = []
        buffer: Any = _UNSET
        for kind, step in self.steps:
            if kind == _TEXT:
                chain.append(step)
            elif kind == _APPEND:
                chain.append(step(frame))
            else:
                value = step(frame)
                if chain:
                    total = _sum(chain)
                    buffer = total if buffer is _UNSET else js_add(buffer, total)
                    chain = []
                elif buffer is _UNSET:
                    buffer = ""
                if not is_nullish(value):
                    buffer = js_add(buffer, value)
        if buffer is _UNSET:
            return _sum(chain) if chain else ""
        for value in chain:
            buffer = js_add(buffer, value)
        return buffer


def _sum(values: list[Any]) -> Any:
    if all(value.__class__ is str for value in values):
        return "".join(values)
    total = values[0]
    for value in values[1:]:
        total = js_add(total, value)
    return total


def compile_program(program: Program) -> Run:
    run = Compiler().program(program)
    assert run is not None
    return run
