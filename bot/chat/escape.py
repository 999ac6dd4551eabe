"""Text that reaches Slack mrkdwn. Alert labels and user input are data, never markup:
`<` `>` `&` are the only characters Slack parses for mentions, links and `<!channel>`,
so escaping them (Slack's documented rule) makes any string inert."""

from __future__ import annotations

from urllib.parse import urlsplit

ELLIPSIS = "…"


def mrkdwn(text: str) -> str:
    """Escaped for mrkdwn and plain_text alike: Slack parses `<!here>` in both."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def clip_escaped(text: str, limit: int) -> str:
    """Escape, then cut to `limit` without splitting an `&amp;`-style entity."""
    out = mrkdwn(text)
    if len(out) <= limit:
        return out
    cut = out[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def code(text: str, limit: int = 200) -> str:
    """An inline code span: backticks inside would end it, so they become quotes."""
    return "`" + clip_escaped(text.replace("`", "'").replace("\n", " "), limit) + "`"


_URL_QUOTES = {"<": "%3C", ">": "%3E", "|": "%7C", " ": "%20", "\n": "", "\r": "", "\t": ""}


def safe_url(url: str) -> str | None:
    """A URL fit for `<url|text>`: http(s) only, with the characters that would end the
    link early percent-encoded, so a label can neither break out nor hide the target."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    quoted = "".join(_URL_QUOTES.get(ch, ch) for ch in url)
    return quoted.replace("&", "&amp;")


def link(url: str, text: str, limit: int = 200) -> str:
    """`<url|text>` with the text escaped; plain escaped text when the URL is unsafe."""
    target = safe_url(url)
    label = clip_escaped(text, limit)
    return f"<{target}|{label}>" if target else label
