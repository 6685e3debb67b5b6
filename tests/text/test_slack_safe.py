"""Model output made inert before it is posted: no pings, no hidden links, no markup."""

from __future__ import annotations

import re

import pytest

from bot.text.slack_safe import ZWSP, safe_mrkdwn, safe_plain


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<!channel> deploy now", f"@{ZWSP}channel deploy now"),
        ("<!here|here> look", f"@{ZWSP}here look"),
        ("<!everyone>", f"@{ZWSP}everyone"),
        ("<!subteam^S0123ABC|@ml-oncall> please", f"@{ZWSP}ml-oncall please"),
        ("@here and @channel and @everyone", f"@{ZWSP}here and @{ZWSP}channel and @{ZWSP}everyone"),
        ("ask @alice", f"ask @{ZWSP}alice"),
    ],
)
def test_broadcasts_and_group_pings_are_neutralised(text: str, shown: str) -> None:
    assert safe_mrkdwn(text) == shown


def test_only_allowed_users_are_mentioned() -> None:
    out = safe_mrkdwn(
        "owner <@U0OWNER>, also @U0OWNER, <@W0LEAD|lead>; not <@UEVIL> nor @UEVIL",
        allowed_users=["U0OWNER", "W0LEAD"],
    )
    assert out == (
        f"owner <@U0OWNER>, also <@U0OWNER>, <@W0LEAD>; not &lt;@UEVIL&gt; nor @{ZWSP}UEVIL"
    )


def test_an_allowed_list_cannot_smuggle_markup() -> None:
    out = safe_mrkdwn("<@U1|x> hi", allowed_users=["U1|x><!channel", "u1"])
    assert "<" not in out


def test_slack_link_syntax_is_inert() -> None:
    out = safe_mrkdwn("see <http://evil.example|http://good.example>")
    assert out == "see &lt;http://evil.example|http://good.example&gt;"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[good](http://evil.example)", "good (http://evil.example)"),
        ("[http://good.example](http://evil.example)", "http://good.example (http://evil.example)"),
        ('[docs](http://evil.example/x "title")', "docs (http://evil.example/x)"),
        ("![chart](http://evil.example/c.png)", "chart (http://evil.example/c.png)"),
        ("[http://a.example](http://a.example)", "http://a.example"),
    ],
)
def test_markdown_links_show_their_real_url(text: str, shown: str) -> None:
    assert safe_mrkdwn(text) == shown


def test_ampersand_and_angle_brackets_are_escaped() -> None:
    assert safe_mrkdwn("a & b < c > d &amp;") == "a &amp; b &lt; c &gt; d &amp;amp;"
    assert safe_mrkdwn("<!date^1700000000^{date}|x>") == "&lt;!date^1700000000^{date}|x&gt;"


def test_emails_and_ordinary_text_stay_readable() -> None:
    text = "*p99* is 1.8s on `fraud-scorer`; mail oncall@example.com\n• rollback to 1.4.1"
    assert safe_mrkdwn(text) == text


def test_the_cap_never_cuts_markup_in_half() -> None:
    text = "x" * 95 + "&&&&&" + "<@U0OWNER>" * 3
    for limit in range(90, 140):
        out = safe_mrkdwn(text, allowed_users=["U0OWNER"], limit=limit)
        assert len(out) <= limit
        assert not re.search(r"&[a-z]*…$", out)
        assert re.sub(r"<@U0OWNER>", "", out).count("<") == 0


def test_every_angle_bracket_left_is_an_allowed_mention() -> None:
    hostile = (
        "<!channel> <@UEVIL> <http://evil|good> [good](http://evil) <<b>> "
        "<@U0OWNER|x> <mailto:a@b.c|help> &lt;@UEVIL&gt;"
    )
    out = safe_mrkdwn(hostile, allowed_users=["U0OWNER"])
    assert re.sub(r"<@U0OWNER>", "", out).count("<") == 0
    assert ">" not in re.sub(r"<@U0OWNER>", "", out)


def test_safe_plain_defuses_pings_and_caps() -> None:
    assert safe_plain("hi @here\nthere") == f"hi @{ZWSP}here there"
    assert safe_plain("y" * 200, 10) == "y" * 9 + "…"
