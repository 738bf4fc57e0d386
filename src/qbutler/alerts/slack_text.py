"""Slack message text: mrkdwn escaping that keeps Slack's own markup, plainly written @name and
#channel mentions, and sections that fit Slack's limits.

Slack's rules (api.slack.com "Formatting text"): `&`, `<` and `>` are control characters and must
be sent as `&amp;`, `&lt;`, `&gt;`, except where they form markup: links `<url|label>`, mentions
`<@U…>`, `<#C…>`, `<!subteam^…>`, `<!here>`, `<!channel>`, `<!everyone>` and dates `<!date^…>`.
A section's text holds at most 3,000 characters; longer text is split into several sections.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

Format = Literal["plain", "mrkdwn"]

SECTION_LIMIT = 3000
# Slack cuts a message's `text` (the fallback notifications show) at 40,000 characters: 13 full
# sections keep it whole. A longer message is sent as several messages.
SECTIONS_PER_MESSAGE = 13

# Markup kept as written: links, user/channel mentions, special mentions, group mentions, dates.
_MARKUP = r"<(?:[@#][A-Z0-9]+|![a-z]+(?:\^[^<>|]*)?|(?:https?://|mailto:|tel:)[^<>\s|]+)(?:\|[^<>]*)?>"
_CODE = r"```.*?```|`[^`\n]+`"
_USER = r"(?<![\w@.&/#])@(?P<user>[A-Za-z0-9](?:[\w.\-]*\w)?)"
_CHANNEL = r"(?<![\w&#/@])#(?P<channel>[A-Za-z0-9](?:[\w\-]*\w)?)"
_TOKENS = re.compile(f"(?P<markup>{_MARKUP})|(?P<code>{_CODE})|{_USER}|{_CHANNEL}", re.DOTALL)
_SPECIAL = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}

# Looks a name up (a user name, or a channel name without '#'); None when Slack does not know it.
Lookup = Callable[[str], Awaitable[str | None]]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def to_mrkdwn(text: str, user_id: Lookup | None = None, channel_id: Lookup | None = None) -> str:
    """`text` ready for a mrkdwn field: Slack's markup kept, everything else escaped, `@here`,
    `@channel`, `@everyone` as special mentions, and `@name`/`#channel` as mentions where the
    lookups (a bot token) find them. Nothing inside code spans is resolved."""
    found = list(_TOKENS.finditer(text))
    users = {m["user"] for m in found if m["user"] and m["user"].lower() not in _SPECIAL}
    channels = {m["channel"].lower() for m in found if m["channel"]}
    user_ids = await _look_up(users, user_id)
    channel_ids = await _look_up(channels, channel_id)
    out: list[str] = []
    done = 0
    for match in found:
        out.append(escape(text[done:match.start()]))
        done = match.end()
        if match["markup"]:
            out.append(match["markup"])
        elif match["code"]:
            out.append(escape(match["code"]))
        elif match["user"]:
            name = match["user"]
            special = _SPECIAL.get(name.lower())
            uid = user_ids.get(name)
            out.append(special or (f"<@{uid}>" if uid else escape(match[0])))
        else:
            cid = channel_ids.get(match["channel"].lower())
            out.append(f"<#{cid}>" if cid else escape(match[0]))
    out.append(escape(text[done:]))
    return "".join(out)


async def _look_up(names: set[str], lookup: Lookup | None) -> dict[str, str]:
    if not names or lookup is None:
        return {}
    ordered = sorted(names)
    ids = await asyncio.gather(*(lookup(name) for name in ordered))
    return {name: found for name, found in zip(ordered, ids, strict=True) if found}


def split_sections(text: str, *, markup: bool, limit: int = SECTION_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a line break or else a space in the
    second half of a piece, never inside markup (`<…>`) or an escaped character (`&amp;`)."""
    if not text:
        return [" "]
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit, markup)
        pieces.append(rest[:cut])
        # A line break or space at the cut is the boundary itself, not content of the next piece.
        rest = rest[cut + 1:] if rest[cut] in "\n " else rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces or [" "]


def _cut_point(text: str, limit: int, markup: bool) -> int:
    window = text[:limit + 1]
    cut = -1
    for boundary in ("\n", " "):
        cut = window.rfind(boundary, limit // 2)
        if cut > 0:
            break
    if cut <= 0:
        cut = limit
    if markup:
        # Move in front of markup or an entity the cut would break.
        opening, closing = text.rfind("<", 0, cut), text.rfind(">", 0, cut)
        if opening > closing and opening > 0:
            cut = opening
        amp, semi = text.rfind("&", 0, cut), text.rfind(";", 0, cut)
        if amp > semi and cut - amp < 5 and amp > 0:
            cut = amp
    return cut


def section_block(text: str, kind: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}}


def grouped(sections: list[str]) -> list[list[str]]:
    """Sections per message, in order."""
    return [sections[n:n + SECTIONS_PER_MESSAGE] for n in range(0, len(sections), SECTIONS_PER_MESSAGE)]
