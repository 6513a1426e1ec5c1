"""What a newcomer meets first: fast help, one-line errors, warnings, and named stores."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli

STALLGUARD = Path(sys.executable).with_name("stallguard")
HEAVY = ("pandas", "mlflow", "lightgbm", "sklearn", "bentoml", "pyarrow")

# Runs the CLI in-process and reports which heavy packages the run imported.
PROBE = """
import sys
from cli.app import app
sys.argv = ["stallguard", *sys.argv[1:]]
try:
    app()
except SystemExit as done:
    code = done.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("EXIT", code, "HEAVY", ",".join(heavy) or "-", file=sys.stderr)
"""


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STALLGUARD), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def _probe(*args: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    return done.stdout + done.stderr, done.stderr.strip().splitlines()[-1]


def test_help_imports_nothing_heavy():
    out, status = _probe("--help")
    assert status == "EXIT 0 HEAVY -", out
    for group in ("simulate", "train", "score", "notify", "serve-demo"):
        assert group in out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("score", "--as-of", "yesterday"), "--as-of"),
        (("context", "--as-of", "2025-13-45"), "--as-of"),
        (("train", "--source", "nowhere"), "--source"),
        (("score", "--lang", "fr"), "--lang"),
    ],
)
def test_bad_arguments_fail_in_one_line_before_heavy_imports(args, named):
    out, status = _probe(*args)
    assert status == "EXIT 2 HEAVY -", out
    assert named in out and "Traceback" not in out


def test_as_of_in_any_zone_is_read_as_utc():
    from cli.options import utc_time

    assert utc_time("2025-12-27 23:00+09:00").isoformat() == "2025-12-27T14:00:00+00:00"
    assert utc_time("2025-12-27").isoformat() == "2025-12-27T00:00:00+00:00"


def test_as_of_outside_the_data_is_warned_about(small_world_dir, tmp_path):
    done = _run(
        "context", "--data", str(small_world_dir), "--out", str(tmp_path), "--as-of", "2030-01-01"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning:" in done.stdout and "after DATA ends" in done.stdout


def test_no_model_names_the_store_it_looked_in(small_world_dir, tmp_path):
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    env = {"MLFLOW_TRACKING_URI": store, "STALLGUARD_ARTIFACTS": str(tmp_path / "art")}
    done = _run("score", "--data", str(small_world_dir), "--out", str(tmp_path / "s.csv"), env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert store in done.stdout.replace("\n", "") and "stallguard train" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_bad_setting_names_the_variable_not_its_value(tmp_path):
    env = {"STALLGUARD_MAX_BATCH": "lots", "STALLGUARD_WEBHOOK_URL": "http://u:pw@h/x"}
    done = _run("notify", "--once", env=env)
    assert done.returncode == 2
    assert "STALLGUARD_MAX_BATCH" in done.stdout and "lots" not in done.stdout
    assert "pw" not in done.stdout + done.stderr
