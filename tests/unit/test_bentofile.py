"""bentofile.yaml agrees with pyproject: the Bento carries every package the service imports."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from pathspec import PathSpec  # what BentoML matches `include` with

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("contract", "sources", "features", "training", "serving", "cli")

# Imports the service and reports (distributions of third-party modules, first-party files).
PROBE = """
import json, sys
from importlib.metadata import packages_distributions
import serving.service
dists = packages_distributions()
third = sorted({d for m in list(sys.modules) for d in dists.get(m.split(".")[0], ())})
files = sorted(
    m.__file__ for name, m in list(sys.modules.items())
    if name.split(".")[0] in %r and getattr(m, "__file__", None)
)
print(json.dumps({"third": third, "files": files}))
"""


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_name(d): d for d in deps}


def _bentofile() -> dict:
    return yaml.safe_load((ROOT / "bentofile.yaml").read_text())


def test_bento_packages_are_pinned_as_in_pyproject():
    project = _project()
    for requirement in _bentofile()["python"]["packages"]:
        name = _name(requirement)
        assert name in project, f"{name} is in bentofile.yaml but not a project dependency"
        assert requirement == project[name], f"{requirement!r} vs pyproject {project[name]!r}"


def test_the_bento_carries_what_the_service_imports():
    probe = subprocess.run(
        [sys.executable, "-c", PROBE % (FIRST_PARTY,)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
        env={"BENTOML_DO_NOT_TRACK": "True", "PATH": ""},
    )
    imported = json.loads(probe.stdout.strip().splitlines()[-1])
    wanted = {_name(d) for d in imported["third"]} & set(_project())
    packed = {_name(r) for r in _bentofile()["python"]["packages"]}
    assert wanted - packed == set(), "imported by the service, missing from bentofile.yaml"
    includes = PathSpec.from_lines("gitwildmatch", _bentofile()["include"])
    for file in imported["files"]:
        relative = Path(file).resolve().relative_to(ROOT).as_posix()
        assert includes.match_file(relative), f"{relative} is imported but not packed"
