"""Command line: ``cxanalysis sample | validate | report``.

Exit codes: 0 success; 2 a problem with the input, config or arguments (a readable message, no
traceback); 1 a notebook failed while the report ran.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cxanalysis", description="What customer experience is worth.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="write synthetic customers with known true effects")
    s.add_argument("--customers", type=int, default=5000,
                   help="customers per quarter, the whole base (default 5000)")
    s.add_argument("--everyone-answers", action="store_true",
                   help="every customer answers the survey (default: response by plan, Pro 8x Basic; "
                        "the others have no CX score)")
    s.add_argument("--quarters", type=int, default=4, help="number of quarters (default 4)")
    s.add_argument("--start", default="2025Q4", help="first quarter (default 2025Q4)")
    s.add_argument("--seed", type=int, default=20260101)
    s.add_argument("--effects", type=float, default=1.0,
                   help="scale of the true CX effects; 0 = CX has no effect (default 1)")
    s.add_argument("--format", choices=["csv", "parquet"], default="csv")
    s.add_argument("--out", default="data/generated", help="output folder")
    s.add_argument("--survey-format", choices=["qualtrics", "surveymonkey"],
                   help="write two files instead: crm.csv and a survey export responses.csv")
    s.add_argument("--comment-languages", default="en",
                   help="languages of the comments, comma-separated, from en, pt, es, de (default en)")

    for name, text in (("validate", "check an export; exit 0 when clean, 2 with the problems"),
                       ("report", "run the quarterly report and render HTML")):
        r = sub.add_parser(name, help=text)
        r.add_argument("data", help="export file, folder, or database URL")
        r.add_argument("--config", help="cx.yaml")
        r.add_argument("--quarter", help="the report's quarter, e.g. 2026Q3")
        r.add_argument("--query", help="SQL query for a database source")
        r.add_argument("--survey", help="survey-platform export joined to DATA (survey.path)")
        if name == "report":
            r.add_argument("--out", default="reports", help="reports root (default reports/)")
            r.add_argument("--with-code", action="store_true", help="show code in the HTML")
            r.add_argument("--workers", type=int, default=2, help="notebooks run in parallel")
            r.add_argument("--pdf", action="store_true",
                           help="also write report.pdf (summary and every page, via headless Chromium)")
            r.add_argument("--engine", choices=["auto", "pandas", "duckdb", "spark"],
                           help="engine of the exact tables (default: engine in cx.yaml, else auto)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "report":  # the notebook workers' imports start now, beside the loading
        from .workers import start_server

        start_server()
    from .config import ConfigError
    from .io import DataError
    from .schema import ValidationError

    try:
        if args.command == "sample":
            return _sample(args)
        if args.command == "validate":
            return _validate(args)
        return _report(args)
    except (ConfigError, DataError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _sample(args) -> int:
    from .config import ConfigError
    from .sample import RESPONSE_RATES, Truth, make_customers

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    languages = [x.strip() for x in str(args.comment_languages).split(",") if x.strip()]
    try:
        df = make_customers(args.customers, args.quarters, start=args.start, random_state=args.seed,
                            truth=Truth(effect_scale=args.effects), comment_languages=languages,
                            response_rates=None if args.everyone_answers or args.survey_format else RESPONSE_RATES)
    except ValueError as exc:  # an unknown language code: a user mistake, exit 2
        raise ConfigError(f"--comment-languages: {exc}") from None
    if args.survey_format:
        return _sample_two_files(args, out, df)
    path = out / f"customers.{args.format}"
    if args.format == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    print(f"wrote {len(df):,} rows to {path}")
    return 0


def _sample_two_files(args, out: Path, df) -> int:
    """``sample --survey-format``: crm.csv and the survey export responses.csv."""
    from .sample import write_survey_sample

    crm, survey, sample = write_survey_sample(out, df, format=args.survey_format,
                                              random_state=args.seed)
    print(f"wrote {len(sample.crm):,} customer rows to {crm} and {len(sample.responses):,} "
          f"{args.survey_format} responses to {survey}")
    print(f"next: cxanalysis report {crm} --survey {survey}")
    return 0


def _validate(args) -> int:
    from .config import load_config
    from .io import check_report_quarter, load_with_history, quarters, respondents_by_quarter
    from .schema import readiness_warnings

    cfg = load_config(args.config)
    loaded = load_with_history(args.data, cfg, quarter=args.quarter, query=args.query, survey=args.survey)
    rep = loaded.report
    print(f"OK: {rep.rows_in:,} rows read, {rep.rows_out:,} kept, "
          f"quarters {', '.join(quarters(loaded.data))}.")
    if rep.join is not None:
        from .survey import join_lines

        print("\n".join(join_lines(rep.join)))
    for step in rep.steps:
        print(f"  dropped {step['rows_dropped']:,} row(s): {step['rule']} (e.g. {', '.join(step['example_ids'][:3])})")
    for note in rep.notes:
        print(f"  note: {note}")
    sys.stdout.flush()
    q = check_report_quarter(loaded.data, args.quarter, cfg)
    n = int(respondents_by_quarter(loaded.data, cfg.score)[q])
    print(f"Report quarter {q}: {n:,} respondents.")
    warnings = readiness_warnings(loaded.data, cfg, q)
    if warnings:
        print("Warnings:")
        for w in warnings:
            print(f"  - {w}")
    return 0


def _report(args) -> int:
    from .report import ReportError, run_report

    try:
        root = run_report(args.data, config=args.config, quarter=args.quarter, out=args.out,
                          query=args.query, with_code=args.with_code, workers=args.workers,
                          survey=args.survey, engine=args.engine)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Report ready: {(root / 'index.html').resolve()}")
    print(f"Results:      {(root / 'results.json').resolve()}")
    if args.pdf:
        import json

        from .pdf import PdfError, write_pdf

        pages = json.loads((root / "results.json").read_text())["run"]["notebooks"]
        try:
            pdf = write_pdf(root, pages)
        except PdfError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"PDF:          {pdf.resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
