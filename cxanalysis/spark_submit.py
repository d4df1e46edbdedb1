"""The quarterly report under ``spark-submit``: the file spark-submit runs on the driver.

spark-submit takes a Python file, not a module, so this file ships inside the package::

    spark-submit --master yarn "$(python -c 'import cxanalysis.spark_submit as m; print(m.__file__)')" \\
        spark:main.cx.customers --config cx.yaml --out reports/

It takes the arguments of ``cxanalysis report`` (the engine is ``spark`` unless ``--engine`` says
otherwise). It starts the SparkSession that spark-submit configured (master, executors, memory),
so that the Spark engine reads the table or files there, validates them and computes the exact
tables over every row on the cluster, and draws the weighted stratified sample that the
notebooks read on the driver; the report is written to ``--out`` on the driver. Exit codes are
those of ``cxanalysis report``: 0, 2 for a problem with the input, config or installation, 1 when
a notebook failed.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # run as a file, Python puts this folder first on sys.path, where the package's own modules
    # (io, text, config...) would shadow others: leave it out
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``cxanalysis report ARGS`` in the SparkSession spark-submit configured (or the active one)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["report"]:
        args = args[1:]
    if not any(a == "--engine" or a.startswith("--engine=") for a in args):
        args += ["--engine", "spark"]
    from cxanalysis.cli import main as cli_main
    from cxanalysis.config import ConfigError

    if any(a in ("-h", "--help") for a in args):
        return cli_main(["report", *args])
    try:
        spark, started = _session()
    except ConfigError as exc:  # pyspark or Java missing: what to install, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Spark {spark.version}, master {spark.sparkContext.master}, application {spark.sparkContext.appName}",
          file=sys.stderr, flush=True)
    try:
        return cli_main(["report", *args])
    finally:
        if started:
            spark.stop()


def _session():
    """The active SparkSession, else the one spark-submit's settings describe (its ``--master``,
    not the engine's ``local[*]`` default); and whether it was started here."""
    from cxanalysis.resources import InstallError, require_extra

    require_extra("spark", ("pyspark",), "The Spark engine")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    try:
        return SparkSession.builder.appName("cxanalysis report").getOrCreate(), True
    except Exception as exc:  # no Java, or a master it cannot reach
        raise InstallError(f"Spark could not start a session ({type(exc).__name__}: {str(exc).strip()[:300]}). "
                           "The Spark engine needs Java 17 (or set JAVA_HOME) and a master it can reach.") from None


if __name__ == "__main__":
    sys.exit(main())
