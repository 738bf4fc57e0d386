"""Random templates from the Handlebars grammar that notification templates use, and random JSON
contexts for them: what the differential corpus is made of.

Templates use a small vocabulary of names that the contexts also use, so paths mostly hit; white
space, newlines and `~` are put around tags so standalone lines and whitespace control are
exercised; now and then a piece is malformed on purpose, so errors are compared too. The generator
is driven by a `random.Random` that Hypothesis supplies (tests/handlebars/test_corpus.py): drawing
through Hypothesis strategies piece by piece was about 100 ms a case, this is well under 1 ms.
"""

from __future__ import annotations

import random
from typing import Any

NAMES = ["a", "b", "c", "items", "name", "x", "length", "0", "1", "first", "k-1", "weird key", "id"]
PLAIN = ["a", "b", "c", "items", "name", "x", "first", "id"]
# No "{": next to a tag it would make `{{{` or `{{{{`, which mostly makes errors (tested on purpose elsewhere).
TEXT = [*"ab <>&\"'`=\\/\n\t é😀}|.", "\r\n", "  ", "\n  ", "ü"]
NUMBERS = [0, 1, 2, -1, 7, 1000, -0.0, 1.5, 2.0, 1e21, 1e-7, 123456789.125, -0.5, 0.1]
LITERALS = ['"a"', "'b'", '"<&>"', "0", "1", "-1", "1.5", "true", "false", "null", "undefined", '"x \\" y"', '""']
WS = ["", "", "", "", " ", "\n", "  \n", "\n  ", "\r\n", "\t"]


class Grammar:
    def __init__(self, rng: random.Random):
        self.r = rng

    def chance(self, one_in: int) -> bool:
        return self.r.randrange(one_in) == 0

    def pick(self, items: list[Any]) -> Any:
        return self.r.choice(items)

    # ------------------------------------------------------------------ contexts
    def text(self) -> str:
        return "".join(self.pick(TEXT) for _ in range(self.r.randrange(9)))

    def value(self, depth: int = 3) -> Any:
        kind = self.r.randrange(10 if depth > 0 else 7)
        if kind == 0:
            return None
        if kind == 1:
            return self.pick([True, False])
        if kind == 2:
            return self.pick(NUMBERS) if self.chance(2) else self.r.randrange(-3, 1000)
        if kind in (3, 4, 5):
            return self.pick(["", "0", "false", "a"]) if self.chance(4) else self.text()
        if kind == 6:
            return self.text()
        if kind == 7:
            return [self.value(depth - 1) for _ in range(self.r.randrange(5))]
        return self.context(depth - 1)

    def context(self, depth: int = 3) -> dict[str, Any]:
        return {self.pick(NAMES): self.value(depth) for _ in range(self.r.randrange(8 if depth > 2 else 5))}

    # ------------------------------------------------------------------ expressions
    def segment(self, first: bool) -> str:
        name = self.pick(NAMES)
        # After a separator a bare number is a NUMBER token, which Handlebars refuses: `a.[0]`, not `a.0`.
        needs_brackets = name == "weird key" or (not first and name.isdigit() and not self.chance(20))
        return f"[{name}]" if needs_brackets or self.chance(10) else name

    def path(self) -> str:
        kind = self.r.randrange(12)
        parts = [self.segment(n == 0 and kind > 3) for n in range(self.r.randrange(1, 4))]
        body = self.pick([".", ".", "/"]).join(parts)
        if kind == 0:
            return "this"
        if kind == 1:
            return f"this.{body}"
        if kind == 2:
            return f"../{body}"
        if kind == 3:
            return f"@root.{body}"
        if kind == 4:
            return self.pick(["@index", "@key", "@first", "@last", "@../index", "@root"])
        if kind == 5:
            return "."
        if kind == 6:
            return f"{parts[0]}.[{self.r.randrange(3)}]"
        return body

    def param(self, depth: int = 1) -> str:
        kind = self.r.randrange(6 if depth > 0 else 5)
        if kind == 5:
            return self.subexpression(depth - 1)
        return self.pick(LITERALS) if kind == 4 else self.path()

    def args(self, depth: int, count: int | None = None) -> str:
        params = [self.param(depth) for _ in range(self.r.randrange(3) if count is None else count)]
        if self.chance(5):
            params.append(f"{self.pick([*PLAIN, 'includeZero', 'level'])}={self.param(depth)}")
        return " ".join(params)

    def subexpression(self, depth: int = 1) -> str:
        helper = self.pick(["eq", "eq", "eq", "lookup", "lookup", "log", "nohelper"])
        count = {"eq": 2, "lookup": 2}.get(helper) if not self.chance(8) else None
        return f"({helper} {self.args(depth, count)})".replace(" )", ")")

    # ------------------------------------------------------------------ statements
    def tilde(self) -> str:
        return "~" if self.chance(4) else ""

    def mustache(self) -> str:
        left, right = self.tilde(), self.tilde()
        kind = self.r.randrange(10)
        if kind <= 3:
            return "{{" + left + self.path() + right + "}}"
        if kind == 4:  # `~` goes outside the third brace: `{{~{x}~}}`
            return "{{" + left + "{" + self.path() + "}" + right + "}}"
        if kind == 5:
            return "{{" + left + "& " + self.path() + right + "}}"
        if kind == 6:
            helper = self.pick(["eq", "eq", "lookup", "lookup", "log", "nohelper"])
            count = {"eq": 2, "lookup": 2}.get(helper) if not self.chance(8) else None
            return "{{" + left + f"{helper} {self.args(1, count)}".strip() + right + "}}"
        if kind == 7:
            return "{{" + left + self.pick(LITERALS) + right + "}}"
        if kind == 8:  # a subexpression cannot stand first in a mustache (`{{(x)}}` is refused)
            first = self.subexpression() if self.chance(20) else self.pick(["eq", "lookup"])
            return "{{" + left + f"{first} {self.subexpression()} {self.param()}" + right + "}}"
        return "{{" + left + " " + self.path() + " " + right + "}}"

    def comment(self) -> str:
        inner = self.pick([" note ", "", " {{x}} ", " a }} b ", ' {{#if (eq id "x")}} ', "\n multi\n line "])
        if "}}" in inner or self.chance(2):
            return "{{" + self.tilde() + "!--" + inner + "--" + self.tilde() + "}}"
        return "{{" + self.tilde() + "!" + inner + self.tilde() + "}}"

    def tag(self, inside: str) -> str:
        """A block tag, often alone on an (indented) line, so standalone stripping applies."""
        return self.pick(WS) + "{{" + self.tilde() + inside + self.tilde() + "}}" + self.pick(WS)

    def block(self, depth: int) -> str:
        kind = self.pick(["if", "if", "unless", "each", "each", "with", "section", "inverted", "eqblock", "raw"])
        if kind == "raw":
            return "{{{{raw}}}}" + self.pick(["{{x}}", " {{#if a}}b{{/if}} ", "plain"]) + "{{{{/raw}}}}"
        if kind in ("if", "unless"):
            name = kind
            opened = f"#{kind} {self.param()}" + (" includeZero=true" if self.chance(6) else "")
        elif kind in ("each", "with"):
            name = kind
            opened = f"#{kind} {self.path()}" + (" as |item idx|" if self.chance(5) else "")
        elif kind == "section":
            name = self.path()
            opened = f"#{name}"
        elif kind == "inverted":
            name = self.path()
            opened = f"^{name}"
        else:
            name, opened = "eq", f"#eq {self.param(0)} {self.param(0)}"
        body = self.template(depth - 1)
        if kind in ("each", "with") and "as |" in opened and self.chance(2):
            body += self.pick(["{{item}}", "{{idx}}", "{{item.name}}", "{{#if item}}y{{/if}}"])
        rest = ""
        if self.chance(2):
            if kind != "inverted" and self.chance(3):
                rest += self.tag(f"else if {self.param()}") + self.template(depth - 1)
            rest += self.tag(self.pick(["else", " else ", "^"])) + self.template(depth - 1)
        if self.chance(40):
            name = "mismatched"
        return self.tag(opened) + body + rest + self.tag(f"/{name}")

    def template(self, depth: int = 2) -> str:
        pieces = []
        for _ in range(self.r.randrange(6)):
            kind = self.r.randrange(12 if depth > 0 else 8)
            if kind <= 1:
                pieces.append(self.text())
            elif kind <= 4:
                pieces.append(self.mustache())
            elif kind == 5:
                pieces.append(self.comment())
            elif kind == 6:
                pieces.append(self.pick(["\\{{x}}", "\\\\{{x}}", "{x}", "}}"]) if self.chance(2) else self.text())
            elif kind == 7:
                pieces.append("{{" if self.chance(8) else self.text())
            else:
                pieces.append(self.block(depth))
        return "".join(pieces)

    def case(self) -> dict[str, Any]:
        return {"template": self.template(), "context": self.context(),
                "mode": self.pick(["html", "html", "json", "text"])}
