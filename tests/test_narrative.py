"""Tables as the reader sees them: rounding, counts and percentages."""

import pandas as pd
import pytest

from cxanalysis import narrative


def test_styled_formats_counts_percentages_and_decimals():
    t = pd.DataFrame({"cluster": [0, 1], "n": [1945.0, 12000.0], "share": [0.389, 0.2612],
                      "nps": [63.391, -49.6249], "passives": [650, 1521]})
    html = narrative.styled(t, percent=("share",)).to_html()
    for text in (">0<", ">1<", ">1,945<", ">12,000<", ">38.9%<", ">63.39<", ">-49.62<", ">650<", ">1,521<"):
        assert text in html, text
    assert "650.00" not in html and "0.00<" not in html


def test_styled_shows_export_text_escaped():
    t = pd.DataFrame({"<b>col</b>": ["<img src=x onerror=alert(1)>"], "plan": pd.Categorical(["a&b"]),
                      "terms": [["<i>late</i>", "wait"]], "n": [3]})
    html = narrative.styled(t).to_html()
    assert "<img" not in html and "<b>" not in html and "<i>" not in html
    for text in ("&lt;b&gt;col&lt;/b&gt;", "&lt;img src=x onerror=alert(1)&gt;", "a&amp;b",
                 "&lt;i&gt;late&lt;/i&gt;, wait", ">3<", 'class="tex2jax_ignore"'):
        assert text in html, text


def test_escape_markdown_keeps_emphasis_and_breaks_links_images_code_and_math():
    """Hand-worked: html.escape first, then [ ] \\ ` $ as decimal character references."""
    assert narrative.escape_markdown("**<b>Gold</b>** [x](javascript:alert(1))") == (
        "**&lt;b&gt;Gold&lt;/b&gt;** &#91;x&#93;(javascript:alert(1))")
    assert narrative.escape_markdown("![i](u) `c` $x$ a\\b & c") == (
        "!&#91;i&#93;(u) &#96;c&#96; &#36;x&#36; a&#92;b &amp; c")
    assert narrative.md("- **a** <s>").data == "- **a** &lt;s&gt;"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+A1", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"])
def test_neutralise_csv_prefixes_formula_cells(cell):
    out = narrative.neutralise_csv(pd.DataFrame({"comment": [cell, "fine"]}))
    assert out["comment"].tolist() == ["'" + cell, "fine"]


def test_neutralise_csv_keeps_numbers_numeric_and_checks_headers(tmp_path):
    t = pd.DataFrame({"=cmd": ["a", None], "plan": pd.Categorical(["@x", "Gold"]), "spend": [-5.5, 2.0],
                      "n": [-1, 3], "mixed": [-2, "-2"]})
    out = narrative.neutralise_csv(t)
    assert list(out.columns) == ["'=cmd", "plan", "spend", "n", "mixed"]
    assert out["plan"].tolist() == ["'@x", "Gold"] and out["mixed"].tolist() == [-2, "'-2"]
    assert out["spend"].dtype == t["spend"].dtype and out["n"].dtype == t["n"].dtype
    assert pd.isna(out["'=cmd"].iloc[1]) and t.columns[0] == "=cmd"  # the input is not changed
    narrative.safe_csv(t, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["spend"].tolist() == [-5.5, 2.0] and back["n"].tolist() == [-1, 3]
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "'=cmd,plan,spend,n,mixed"
