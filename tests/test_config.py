import pytest

from cxanalysis.config import DEFAULTS, ConfigError, load_config


def test_defaults_are_documented_values():
    cfg = load_config()
    assert cfg.roi["gross_margin"] == 0.35
    assert cfg.categories == {"score": "nps_score", "promoter_min": 9, "detractor_max": 6}
    assert cfg.to_dict() == DEFAULTS


def test_user_values_merge_key_by_key(tmp_path):
    path = tmp_path / "cx.yaml"
    path.write_text("roi:\n  gross_margin: 0.5\ncolumns:\n  customer_id: Acct ID\nquarter: Q2 2026\n")
    cfg = load_config(path)
    assert cfg.roi["gross_margin"] == 0.5
    assert cfg.roi["horizon_years"] == 3  # untouched default
    assert cfg.columns == {"customer_id": "Acct ID"}
    assert cfg.quarter == "2026Q2"  # normalised


@pytest.mark.parametrize(
    ("user", "match"),
    [
        ({"roi": {"gross_margn": 0.3}}, r"Unknown config key 'roi.gross_margn'. Did you mean 'gross_margin'\?"),
        ({"covariats": ["plan"]}, r"Did you mean 'covariates'\?"),
        ({"categories": {"promoter_min": 5, "detractor_max": 6}}, "must be below"),
        ({"roi": {"gross_margin": 1.5}}, r"'roi.gross_margin' must be a fraction"),
        ({"roi": {"horizon_years": 2.5}}, "whole number of years"),
        ({"nps_ci": "exact"}, r"must be one of \['adjusted-wald', 'wald'\]"),
        ({"cleaning": {"invalid_rows": "skip"}}, r"one of \['drop', 'error'\]"),
        ({"scales": {"csat": [5, 1]}}, r"'scales.csat' must be \[low, high\]"),
        ({"quarter": "Q3"}, "'quarter' must look like 2026Q3"),
        ({"roi": 3}, "must be a mapping"),
        ({"io": {"delimitr": ";"}}, r"Unknown config key 'io.delimitr'. Did you mean 'delimiter'\?"),
        ({"io": {"delimiter": ";;"}}, r"'io.delimiter' must be one character"),
        ({"io": {"decimal": "·"}}, r"'io.decimal' must be '.' or ','; got '·'"),
        ({"io": {"encoding": "latn1"}}, r"'io.encoding' 'latn1' is not an encoding Python knows. Did you mean 'latin-1'\?"),
        ({"min_quarter_respondents": 0}, r"'min_quarter_respondents' must be a whole number of 1 or more"),
        ({"min_quarter_respondents": 50.5}, r"'min_quarter_respondents' must be a whole number"),
        ({"min_quarter_respondnts": 50}, r"Did you mean 'min_quarter_respondents'\?"),
        ({"labels": {"region": 3}}, r"'labels.region' must be the words the pages show for that column"),
        ({"labels": {"region": "  "}}, r"'labels.region' must be the words the pages show"),
        ({"labels": {"region": "x" * 61}}, r"1-60 characters, e.g. labels: \{region: City tier\}"),
    ],
)
def test_bad_config_is_a_clear_error(user, match):
    with pytest.raises(ConfigError, match=match):
        load_config(user)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("roi: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_io_options_are_normalised(tmp_path):
    path = tmp_path / "cx.yaml"
    path.write_text('io:\n  delimiter: tab\n  decimal: ","\n  encoding: Latin-1\nmin_quarter_respondents: 30\n')
    cfg = load_config(path)
    assert cfg.io == {"delimiter": "\t", "decimal": ",", "encoding": "iso8859-1"}
    assert cfg.min_quarter_respondents == 30
    assert load_config().io == {"delimiter": None, "decimal": None, "encoding": None}
    assert load_config().min_quarter_respondents == 100
