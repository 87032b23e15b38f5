"""Rendering for the console: a small, safe Markdown subset for READMEs and code highlighting.

Everything is HTML-escaped first; only the markup produced here reaches the page, and links
are limited to http(s), mailto and relative targets.
"""

from __future__ import annotations

import html
import re

from django.utils.safestring import SafeString, mark_safe

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_BULLET = re.compile(r"^\s*([-*+]|\d+\.)\s+")
_ITALIC = re.compile(r"(?<![*\w])\*([^*]+)\*(?![*\w])")


def _safe_href(url: str) -> str | None:
    unescaped = html.unescape(url).strip()
    if re.match(r"^(https?://|mailto:|#|/|\./|[\w.-]+(/|$))", unescaped) and not unescaped.lower().startswith(
            ("javascript:", "data:", "vbscript:")):
        return url
    return None


def _inline(text: str) -> str:
    text = html.escape(text, quote=True)
    codes: list[str] = []

    def keep_code(m: re.Match[str]) -> str:
        codes.append(f"<code>{m.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep_code, text)

    def link(m: re.Match[str]) -> str:
        href = _safe_href(m.group(2))
        return f'<a href="{href}" rel="nofollow noopener">{m.group(1)}</a>' if href else m.group(1)

    text = _LINK.sub(link, text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)


def markdown(source: str) -> SafeString:
    """Headings, paragraphs, lists, fenced code, block quotes, inline code/bold/italic/links."""
    out: list[str] = []
    lines = source.replace("\r\n", "\n").split("\n")
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            block = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                block.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(block))}</code></pre>")
        elif m := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2).rstrip('#').strip())}</h{level}>")
        elif _BULLET.match(stripped):
            flush()
            ordered = stripped[0].isdigit()
            items = []
            while i < len(lines) and _BULLET.match(lines[i]):
                items.append(f"<li>{_inline(_BULLET.sub('', lines[i]))}</li>")
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>{''.join(items)}</{tag}>")
            continue
        elif stripped.startswith(">"):
            flush()
            out.append(f"<blockquote>{_inline(stripped.lstrip('> '))}</blockquote>")
        elif not stripped:
            flush()
        elif re.match(r"^(-{3,}|\*{3,})$", stripped):
            flush()
            out.append("<hr>")
        else:
            para.append(stripped)
        i += 1
    flush()
    return mark_safe("\n".join(out))  # built only from escaped text above


def highlight(code: str, filename: str) -> tuple[SafeString, str]:
    """(highlighted HTML lines, CSS) with Pygments when it is installed; escaped text otherwise."""
    try:
        from pygments import highlight as pyg_highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import TextLexer, get_lexer_for_filename
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments is a dependency, but stay useful without it
        return mark_safe(f"<pre>{html.escape(code)}</pre>"), ""
    try:
        lexer = get_lexer_for_filename(filename, code)
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(linenos="table", cssclass="hl", anchorlinenos=True, lineanchors="L")
    return mark_safe(pyg_highlight(code, lexer, formatter)), formatter.get_style_defs(".hl")
