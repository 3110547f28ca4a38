"""A tiny HTML builder that escapes every piece of text unless it is already markup.

Log-derived values (hostnames, protocols, root-cause sentences, column names…) must
never reach a page unescaped. Here text is escaped by default: only :class:`Markup`
(built by :func:`el` or :func:`raw` from trusted literals) passes through as is.

>>> str(el("td", "<script>", class_="x"))
'<td class="x">&lt;script&gt;</td>'
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["Markup", "el", "escape", "fmt_num", "join", "raw"]

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9:-]*$")
_VOID = {"br", "hr", "img", "input", "meta", "link", "col", "source", "wbr"}


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


Child = Any  # str | int | float | Markup | None | Iterable of those


def raw(trusted: str) -> Markup:
    """Mark a developer-written literal (never log-derived text) as markup."""
    return Markup(trusted)


def escape(value: object) -> Markup:
    """Escape ``value`` for an HTML text node or attribute (quotes included)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def _children(children: Iterable[Child]) -> str:
    out: list[str] = []
    for c in children:
        if c is None or c is False:
            continue
        if isinstance(c, str):
            out.append(escape(c))
        elif isinstance(c, (int, float)):
            out.append(escape(fmt_num(c)))
        else:
            out.append(_children(c))
    return "".join(out)


def _attr_name(key: str) -> str:
    name = key.rstrip("_").replace("_", "-")
    if not _NAME.match(name):
        raise ValueError(f"invalid attribute name {key!r}")
    return name


def el(tag: str, *children: Child, **attrs: object) -> Markup:
    """``<tag attrs>children</tag>`` with every text child and attribute value escaped.

    Attribute names: a trailing ``_`` is dropped (``class_``) and ``_`` becomes ``-``
    (``data_category`` → ``data-category``). ``True`` renders a bare attribute; ``None``
    and ``False`` omit it.
    """
    if not _NAME.match(tag):
        raise ValueError(f"invalid tag name {tag!r}")
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = _attr_name(key)
        if value is True:
            parts.append(name)
        else:
            text = fmt_num(value) if isinstance(value, (int, float)) else value
            parts.append(f'{name}="{escape(text)}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in _VOID:
        return Markup(opening)
    return Markup(f"{opening}{_children(children)}</{tag}>")


def join(items: Iterable[Child], sep: str = "") -> Markup:
    """Concatenate children (escaping text) with a trusted separator."""
    return Markup(sep.join(_children([i]) for i in items))


def fmt_num(value: object, digits: int = 4) -> str:
    """A compact, stable text form of a number (ints as ints, floats rounded)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)
