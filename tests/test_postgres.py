"""PostgreSQL for real: a throwaway server (Debian's postgresql package, started by initdb /
pg_ctl in a temporary folder on a free localhost port), an export loaded into it, and
``cxanalysis validate`` and ``cxanalysis report --query`` run against it through a
``postgresql://`` URL. Skipped, with the reason, where no server can be started."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from cxanalysis.cli import main
from cxanalysis.config import load_config
from cxanalysis.metrics import configured_nps
from cxanalysis.sample import make_customers


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """Start a PostgreSQL server for this module; yield its URL; stop it and remove its files."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it)")
    for module in ("sqlalchemy", "psycopg"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install \"cxanalysis[io]\")")
    # postgres refuses to run as root: run it as the postgres user the package creates
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = None
        if runuser is None or owner is None:
            pytest.skip("running as root without a 'postgres' user or runuser: cannot start PostgreSQL")
        prefix = [runuser, "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="cx-pg-"))
    if prefix:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, log, port = folder / "data", folder / "server.log", _free_port()
    init = subprocess.run([*prefix, initdb, "-D", str(data), "-U", "cx", "--auth=trust", "-E", "UTF8"],
                          capture_output=True, text=True)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
                           capture_output=True, text=True)
    if start.returncode != 0:
        text = log.read_text() if log.is_file() else start.stderr
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {text.strip()[-300:]}")
    try:
        yield f"postgresql://cx@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def loaded(postgres_url):
    """A generated export (2 quarters) in the table ``crm_export``, with a messy column name."""
    import sqlalchemy

    df = make_customers(800, 2, random_state=17)
    engine = sqlalchemy.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        for _ in range(20):  # the server may still be opening its socket
            try:
                df.rename(columns={"nps_score": "Recommend (0-10)"}).to_sql("crm_export", engine, index=False)
                break
            except sqlalchemy.exc.OperationalError:
                time.sleep(0.5)
    finally:
        engine.dispose()
    return postgres_url, df


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cx.yaml"
    path.write_text('columns:\n  nps_score: "Recommend (0-10)"\n')
    return path


def test_validate_against_postgresql(loaded, tmp_path, capsys):
    url, df = loaded
    code = main(["validate", url, "--query", "SELECT * FROM crm_export", "--config", str(_config(tmp_path))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"OK: {len(df):,} rows read, {len(df):,} kept" in out
    q = df["quarter"].max()
    assert f"Report quarter {q}: {int(df.loc[df['quarter'] == q, 'nps_score'].notna().sum()):,} respondents." in out


def test_a_failing_query_is_a_readable_error(loaded, capsys):
    url, _ = loaded
    assert main(["validate", url, "--query", "SELECT * FROM no_such_table"]) == 2
    err = capsys.readouterr().err
    assert "no_such_table" in err and "Check the URL" in err and "Traceback" not in err


@pytest.mark.slow
def test_report_query_against_postgresql(loaded, tmp_path, monkeypatch):
    """``report --query`` on the server (the data-quality and metrics notebooks, to keep it
    short): the results' NPS equals the in-memory computation on the generated frame."""
    import cxanalysis.report as report

    url, df = loaded
    pages = [p for p in report.notebook_paths() if p.stem.startswith(("01", "03"))]
    monkeypatch.setattr(report, "notebook_paths", lambda folder=None: pages)
    code = main(["report", url, "--query", "SELECT * FROM crm_export WHERE spend >= 0",
                 "--config", str(_config(tmp_path)), "--out", str(tmp_path / "r")])
    assert code == 0
    q = df["quarter"].max()
    res = json.loads((tmp_path / "r" / q / "results.json").read_text())
    assert res["run"]["inputs"][0]["path"] == url and res["run"]["engine"] == "pandas"
    assert res["n_customers"] == int((df["quarter"] == q).sum())
    want = configured_nps(df[df["quarter"] == q], load_config()).iloc[0]
    assert res["nps"]["value"] == pytest.approx(want["nps"], rel=1e-9)
    assert res["nps"]["ci_low"] == pytest.approx(want["ci_low"], rel=1e-9)
    assert not res["run"].get("errors")
