"""Slack text rules that need no server: escaping around markup, what counts as a plain mention,
and where long text is cut."""

from __future__ import annotations

from qbutler.alerts.slack_text import split_sections, to_mrkdwn


async def directory(name: str) -> str | None:
    return {"anna": "U0ANNA0001", "ops": "C0OPS00001"}.get(name.lower())


async def test_only_plain_names_and_channels_are_looked_up():
    text = ("@anna https://x.example/page#ops anna@x.example &#ops; <#C0OPS00001|ops> <@U0BOB00001> #ops!"
            " (@Anna) ```@anna\n#ops``` @here")
    assert await to_mrkdwn(text, directory, directory) == (
        "<@U0ANNA0001> https://x.example/page#ops anna@x.example &amp;#ops; <#C0OPS00001|ops> <@U0BOB00001> "
        "<#C0OPS00001>! (<@U0ANNA0001>) ```@anna\n#ops``` <!here>")


async def test_without_a_token_names_stay_text_but_are_escaped():
    assert await to_mrkdwn("@anna <b> & <!channel> <nope|x> <https://a.example?q=1&r=2|a & b>") == (
        "@anna &lt;b&gt; &amp; <!channel> &lt;nope|x&gt; <https://a.example?q=1&r=2|a & b>")


def test_a_cut_never_breaks_markup_or_an_escaped_character():
    mention = "<@U0ANNA0001>"
    assert split_sections("a" * 2995 + mention, markup=True) == ["a" * 2995, mention]
    assert split_sections("b" * 2998 + "&amp;c", markup=True) == ["b" * 2998, "&amp;c"]
    # Plain text has no markup: the cut is where the limit is.
    assert split_sections("a" * 2995 + mention, markup=False) == ["a" * 2995 + mention[:5], mention[5:]]


def test_cuts_prefer_line_breaks_then_spaces_and_drop_them():
    lines = "\n".join(["x" * 1999, "y" * 1999, "z" * 10])
    assert split_sections(lines, markup=True) == ["x" * 1999, "y" * 1999 + "\n" + "z" * 10]
    words = " ".join(["w" * 999] * 4)
    assert split_sections(words, markup=False) == [" ".join(["w" * 999] * 3), "w" * 999]
    assert split_sections("", markup=False) == [" "]
