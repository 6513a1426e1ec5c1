"""`stallguard simulate` as a user runs it: a real subprocess, real files."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from contract.tables import Tables
from contract.validation import validate
from sources.synthetic import read_hidden_causes

pytestmark = pytest.mark.cli

STALLGUARD = Path(sys.executable).with_name("stallguard")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STALLGUARD), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "250"},  # keep long paths on one line in error boxes
    )


def test_simulate_writes_valid_tables_and_prints_a_summary(tmp_path):
    out = tmp_path / "world"
    done = _run("simulate", "--shipments", "2000", "--days", "21", "--seed", "5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    for heading in ("World", "Late rate by hidden cause", "by destination region", "by week"):
        assert heading in done.stdout
    tables = Tables.read(out)
    assert len(tables.shipments) == 2000
    assert validate(tables).ok
    assert not read_hidden_causes(out).empty
    assert "010-" not in done.stdout, "no PII in the summary"


def test_simulate_start_date_is_honoured(tmp_path):
    out = tmp_path / "w"
    done = _run(
        "simulate", "--shipments", "500", "--days", "7", "--start", "2024-02-01", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    created = Tables.read(out).shipments["created_at"]
    assert created.min().strftime("%Y-%m") in ("2024-01", "2024-02")  # local midnight is 15:00 UTC
    assert created.max() < created.min() + pd.Timedelta(days=8)


def test_bad_arguments_get_a_clear_error(tmp_path):
    done = _run("simulate", "--shipments", "0", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "shipments" in done.stderr
    done = _run("simulate", "--weather-csv", str(tmp_path / "missing.csv"), "--out", str(tmp_path))
    assert done.returncode == 2
    assert "missing.csv" in done.stderr


def test_help_lists_the_commands():
    done = _run("--help")
    assert done.returncode == 0
    assert "simulate" in done.stdout
