"""The HTML builder escapes every text child and attribute unless it is trusted markup."""

from __future__ import annotations

import pytest

from netrca.report.markup import Markup, el, escape, fmt_num, join, raw


def test_text_and_attributes_are_escaped() -> None:
    html = el("td", "<script>alert(1)</script>", title='"><img src=x onerror=alert(1)>')
    assert html == (
        '<td title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">'
        "&lt;script&gt;alert(1)&lt;/script&gt;</td>"
    )


def test_nested_markup_is_kept_and_lists_are_flattened() -> None:
    inner = el("b", "a&b")
    out = el("p", inner, [" x ", ["<y>"]], None, 3, 0.5)
    assert out == "<p><b>a&amp;b</b> x &lt;y&gt;30.5</p>"
    assert isinstance(out, Markup)
    assert join(["<", el("i", ">")], sep="<br>") == "&lt;<br><i>&gt;</i>"


def test_attribute_names_booleans_and_void_tags() -> None:
    assert el("option", "x", value="v", selected=True, data_kind="k", class_="c") == (
        '<option value="v" selected data-kind="k" class="c">x</option>'
    )
    assert el("input", type="text", disabled=False, value=None) == '<input type="text">'


def test_bad_names_are_refused_and_raw_is_explicit() -> None:
    with pytest.raises(ValueError, match="tag"):
        el("scr ipt")
    with pytest.raises(ValueError, match="attribute"):
        el("a", **{"on click": "x"})
    assert escape(raw("<b>")) == "<b>"
    assert escape("<b>") == "&lt;b&gt;"


def test_fmt_num() -> None:
    assert [fmt_num(v) for v in (3, 2.0, 0.123456, float("nan"), True)] == [
        "3",
        "2",
        "0.1235",
        "–",
        "true",
    ]
