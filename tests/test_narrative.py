"""Tables as the reader sees them: rounding, counts and percentages."""

import pandas as pd

from cxanalysis import narrative


def test_styled_formats_counts_percentages_and_decimals():
    t = pd.DataFrame({"cluster": [0, 1], "n": [1945.0, 12000.0], "share": [0.389, 0.2612],
                      "nps": [63.391, -49.6249], "passives": [650, 1521]})
    html = narrative.styled(t, percent=("share",)).to_html()
    for text in (">0<", ">1<", ">1,945<", ">12,000<", ">38.9%<", ">63.39<", ">-49.62<", ">650<", ">1,521<"):
        assert text in html, text
    assert "650.00" not in html and "0.00<" not in html
