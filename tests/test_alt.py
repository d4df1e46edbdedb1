"""Alt text written from a figure's own data (cxanalysis.alt), checked on hand-made figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from IPython.core.interactiveshell import InteractiveShell

from cxanalysis import alt, plots


def test_numbers_read_as_a_reader_says_them():
    assert [alt.number(x) for x in (41, -10, 1234.4, 0.4213, 2.25, -0.001, float("nan"))] == \
        ["41", "\u221210", "1,234", "0.42", "2.2", "0.00", "n/a"]


def test_vertical_bars_name_each_bar_and_its_value():
    fig, ax = plt.subplots()
    ax.bar(["Gold", "Silver", "Bronze"], [41.2, 23.0, -10.4])
    ax.set_title("NPS by plan")
    assert alt.describe(fig) == "Bar chart of NPS by plan: Gold 41, Silver 23, Bronze \u221210."


def test_horizontal_bars_read_top_to_bottom_and_axis_labels_stand_in_for_a_title():
    fig, ax = plt.subplots()
    ax.barh([0, 1, 2], [0.5, 1.5, 3.0])
    ax.set_yticks([0, 1, 2], ["low", "mid", "high"])
    ax.set_xlabel("plan")
    ax.set_ylabel("share")
    assert alt.describe(fig) == "Bar chart of share by plan: high 3, mid 1.5, low 0.50."


def test_one_horizontal_bar_reads_its_length_not_its_thickness():
    """A column with one level (the IBM Telco export's "Quarter": Q3 on every row) is one barh:
    its value is its length, 7,043, not the top of its 0.8-thick bar (0.40)."""
    fig, ax = plt.subplots()
    ax.barh(["Q3"], [7043])
    ax.set_title("Quarter (export)")
    assert alt.describe(fig) == "Bar chart of Quarter (export): Q3 7,043."
    fig, ax = plt.subplots()
    ax.bar(["Q3"], [7043])
    assert alt.describe(fig) == "Bar chart: Q3 7,043."
    plt.close("all")


def test_lines_on_labelled_ticks_and_reference_lines_left_out():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [12.0, 15.5, 9.0], label="NPS")
    ax.axhline(0, ls="--")  # reference: not data
    ax.set_xticks([0, 1, 2], ["2026Q1", "2026Q2", "2026Q3"])
    ax.set_title("NPS by quarter")
    assert alt.describe(fig) == "Line chart of NPS by quarter: NPS: 2026Q1 12, 2026Q2 16, 2026Q3 9."


def test_dot_plot_pairs_tick_labels_with_values_and_panels_are_numbered():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1.2, 0.8], [1, 0], "o")
    a.set_yticks([0, 1], ["detractor", "promoter"])
    a.set_title("spend ratio")
    b.scatter(np.linspace(0.02, 0.97, 50), np.linspace(-2, 3, 50))
    b.set_xlabel("fitted")
    b.set_ylabel("residual")
    fig.suptitle("Effects")
    assert alt.describe(fig) == ("Effects. Panel 1: Dot chart of spend ratio: promoter 1.2, detractor 0.80. "
                                 "Panel 2: Scatter plot of residual by fitted: 50 points, fitted from 0.02 to "
                                 "0.97, residual from \u22122 to 3.")


def test_heatmap_lists_rows_columns_and_range_and_long_lists_are_cut():
    fig, ax = plt.subplots()
    ax.pcolormesh(np.array([[0.1, 0.6], [0.3, 0.2]]))
    ax.set_xticks([0.5, 1.5], ["passive", "promoter"])
    ax.set_yticks([0.5, 1.5], ["Basic", "Pro"])
    ax.set_title("Shares")
    assert alt.describe(fig) == ("Heatmap of Shares: rows Basic, Pro; columns passive, promoter; "
                                 "values from 0.10 to 0.60.")
    fig2, ax2 = plt.subplots()
    ax2.bar([str(i) for i in range(15)], range(15))
    assert alt.describe(fig2).endswith("11 11, and 3 more.")


def test_install_attaches_the_alt_to_displayed_figures():
    """In an IPython shell the PNG of a figure comes with ``{"alt": ...}`` in its metadata."""
    from matplotlib.figure import Figure

    shell = InteractiveShell.instance()
    png = shell.display_formatter.formatters["image/png"]
    png.for_type(Figure, lambda fig: b"png-bytes")  # what the inline backend registers
    import IPython

    orig = IPython.get_ipython
    IPython.get_ipython = lambda: shell
    try:
        assert alt.install() is True
    finally:
        IPython.get_ipython = orig
    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    ax.set_title('x <y> & "z"')
    data, meta = shell.display_formatter.format(fig)
    assert data["image/png"] == b"png-bytes"
    assert meta["image/png"]["alt"] == 'Bar chart of x <y> & "z": a 1, b 2.'
    shell.events.trigger("post_execute")  # re-wrapping keeps one wrapper
    assert shell.display_formatter.format(fig)[1]["image/png"]["alt"].count("Bar chart") == 1


def test_a_measured_chart_is_drawn_once_whole_or_cropped_to_its_measured_box():
    """IPython's printer crops to the tight bounding box, which it measures by drawing the
    figure once more. A house chart measured when made and unchanged since is drawn once:
    whole when marked as fitting its canvas (exactly its size in pixels), else cropped to its
    measured box, the very PNG IPython's own crop makes. A figure changed after it was measured,
    and one never measured, are measured again by IPython (drawn twice), so the change shows."""
    import functools
    import io

    from IPython.core.pylabtools import print_figure
    from PIL import Image

    ipython = functools.partial(print_figure, fmt="png", bbox_inches="tight")
    printer = alt._with_alt(ipython)

    def printed(fig):
        drawn = []
        draw = fig.draw
        fig.draw = lambda renderer: drawn.append(1) or draw(renderer)
        data, meta = printer(fig)
        del fig.draw
        assert meta["alt"].startswith("Bar chart")
        return data, Image.open(io.BytesIO(data)).size, len(drawn)

    def chart(title="t", measured=True):
        fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
        ax.bar(["a", "b"], [1, 2])
        ax.set_title(title)
        if measured:  # as the house charts are left (cxanalysis.plots._chart)
            plots._detach_layout(fig)
            if plots._inside(fig):
                plots._fits_canvas(fig)
        return fig

    fits = chart()
    assert fits._cx_fits_canvas and printed(fits)[1:] == ((200, 150), 1)  # drawn once, whole
    wide = chart("a title much, much wider than this small figure is, far past its edges")
    assert not getattr(wide, "_cx_fits_canvas", False)
    data, (width, height), drawn = printed(wide)
    assert drawn == 1 and width > 200 and height < 150  # drawn once, cropped to the title
    assert data == ipython(wide)  # IPython's own crop, byte for byte
    for fig in (chart(), chart(measured=False)):
        if fig.get_layout_engine() is not None:
            plots._detach_layout(fig)
        fig.axes[0].set_title("a title much, much wider than this small figure is, far past its edges")
        assert fig.stale  # for the measured one: changed after it was measured
        data, (width, height), drawn = printed(fig)
        assert drawn == 2 and width > 200 and height < 150  # measured again: the new title shows
        assert data == ipython(fig)


def test_a_waterfall_reads_each_bars_own_value_not_its_running_total():
    """Floating bars start where the previous one ended: the top of the second bar is a running
    total. The alt gives each bar's labelled value (the numbers a sighted reader sees), the tiny
    one drawn taller to be visible included."""
    import pandas as pd

    steps = pd.DataFrame({"label": ["Spend", "Returns", "Churn", "Cost", "Net"],
                          "value": [80_000.0, 2_168.0, 35_000.0, -473_155.0, -355_987.0]})
    ax = plots.waterfall(steps, currency="EUR")
    text = alt.describe(ax.figure)
    assert "Spend €80,000, Returns €2,168, Churn €35,000, Cost -€473,155, Net -€355,987" in text
    assert "117,168" not in text  # the running total at the top of the third bar
    plt.close(ax.figure)


def test_a_heatmap_drawn_one_column_at_a_time_reads_every_cell():
    """The category heatmap shades each column in its own colour (one image per column): the alt
    text spans the values of every column, not of the first image's masked remainder."""
    import pandas as pd

    shares = pd.DataFrame({"detractor": [0.2, 0.5], "passive": [0.3, 0.3], "promoter": [0.5, 0.2]},
                          index=["Plan: Basic", "Plan: Pro"])
    ax = plots.category_heatmap(shares)
    text = alt.describe(ax.figure)
    assert "rows Plan: Basic, Plan: Pro; columns detractor, passive, promoter; values from 0.20 to 0.50" in text
    plt.close(ax.figure)


def test_a_line_on_a_continuous_axis_reads_its_points_not_the_nearest_ticks():
    """The churn calibration line: predicted 0.02 ... 0.21 on an axis ticked every 0.05. Its points
    are not named after the nearest tick ("5%, 5%, 5%"): they read as (x, y) pairs."""
    fig, ax = plt.subplots()
    x = np.array([0.02, 0.04, 0.06, 0.08])
    ax.plot(x, x + 0.01, label="model")
    ax.set_xticks([0.0, 0.05, 0.1])
    assert alt.describe(fig) == "Line chart: model: (0.02, 0.03), (0.04, 0.05), (0.06, 0.07), (0.08, 0.09)."
    plt.close("all")
