"""``meddisseg-container``, the images' entrypoint, run as a program: each command's dry run against the expected
argument list (the real bundles and scripts of this repository), each wrong command line against its error, and real
runs: a program through it (exit status and arguments kept) and Stage I of the 2D bundle on real Kvasir-SEG images."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import pytest
from parameterized import parameterized

from meddisseg_monai.cli.container import BUNDLES, COMMANDS, PROGRAM, WORKFLOWS
from tests.utils import REPO_ROOT, bundle_overrides, checked_output, kvasir_datalist

BIN = Path(sys.executable).parent
BUNDLE_2D = "{root}/bundle/meddisseg_2d_segmentation"
BUNDLE_CT = "{root}/bundle/meddisseg_ct_segmentation"


def _bundle_run(bundle: str, *configs: str, nproc: int | None = None) -> list[str]:
    """The expected command line of a workflow command, before its overrides."""
    launcher = ["{python}"]
    if nproc:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc_per_node={nproc}"]
    config_file = json.dumps([f"{bundle}/configs/{c}" for c in configs])
    return [*launcher, "-m", "monai.bundle", "run", "--bundle_root", bundle, "--config_file", config_file]


DRY = ["--dry_run"]
# name, arguments, environment, expected command lines (one per line of the dry run); paths: {python} this
# interpreter, {root} the repository, {cwd} the working directory, {data} a folder holding "my images/" and
# model.pt, {ml} the MONAI Label environment's Python
COMMAND_CASES = [
    ["stage1_2d", ["train-stage1", *DRY, "--epochs", "2"], {},
     [_bundle_run(BUNDLE_2D, "train.json", "train_stage1.json") + ["--epochs", "2"]]],
    ["train_2d", ["train", "--dataset_dir", "{data}", "--output_dir", "/workspace/runs/k", *DRY], {},
     [_bundle_run(BUNDLE_2D, "train.json") + ["--dataset_dir", "{data}", "--output_dir", "/workspace/runs/k"]]],
    ["evaluate_2d", ["evaluate", *DRY, "--save_masks", "true", "--model_file", "{data}/model.pt"], {},
     [_bundle_run(BUNDLE_2D, "train.json", "evaluate.json")
      + ["--save_masks", "true", "--model_file", "{data}/model.pt"]]],
    ["inference_2d", ["inference", *DRY, "--input", "{data}/my images"], {},
     [_bundle_run(BUNDLE_2D, "inference.json") + ["--input", "{data}/my images"]]],
    ["train_ct", ["train", "--bundle", "ct", *DRY, "--roi_size", "[64,64,64]"], {},
     [_bundle_run(BUNDLE_CT, "train.json") + ["--roi_size", "[64,64,64]"]]],
    ["evaluate_ct", ["evaluate", *DRY, "--ckpt_path", "{data}/model.pt", "--bundle=ct"], {},
     [_bundle_run(BUNDLE_CT, "train.json", "evaluate.json") + ["--ckpt_path", "{data}/model.pt"]]],
    ["inference_ct_env", ["inference", *DRY, "--input", "{data}"], {"MEDDISSEG_BUNDLE": "ct"},
     [_bundle_run(BUNDLE_CT, "inference.json") + ["--input", "{data}"]]],
    ["env_overridden", ["inference", "--bundle", "2d", *DRY], {"MEDDISSEG_BUNDLE": "ct"},
     [_bundle_run(BUNDLE_2D, "inference.json")]],
    ["full_name", ["inference", "--bundle", "meddisseg_ct_segmentation", *DRY], {},
     [_bundle_run(BUNDLE_CT, "inference.json")]],
    ["bundle_folder", ["train", "--bundle", f"{BUNDLE_CT}", *DRY], {}, [_bundle_run(BUNDLE_CT, "train.json")]],
    ["env_dry_run", ["train"], {"MEDDISSEG_DRY_RUN": "1"}, [_bundle_run(BUNDLE_2D, "train.json")]],
    # every override as given: '#' paths, --name=value, a bare flag (fire's True), an expression the bundle resolves
    ["override_forms", ["train", *DRY, "--train#dataset#cache_rate", "0", "--network_def#dropout=0.1", "--resume",
                        "--dataset_dir", "$@bundle_root + '/data'"], {},
     [_bundle_run(BUNDLE_2D, "train.json") + ["--train#dataset#cache_rate", "0", "--network_def#dropout", "0.1",
                                              "--resume", "True", "--dataset_dir", "$@bundle_root + '/data'"]]],
    ["train_ct_gpus", ["train", "--bundle", "ct", "--nproc", "2", *DRY], {},
     [_bundle_run(BUNDLE_CT, "train.json", "multi_gpu_train.json", nproc=2)]],
    ["stage1_gpus", ["train-stage1", "--nproc=4", *DRY], {},
     [_bundle_run(BUNDLE_2D, "train.json", "train_stage1.json", "multi_gpu_train.json", nproc=4)]],
    ["evaluate_2d_gpus", ["evaluate", "--nproc", "2", *DRY], {},
     [_bundle_run(BUNDLE_2D, "train.json", "evaluate.json", "multi_gpu_evaluate.json", nproc=2)]],
    ["evaluate_ct_gpus", ["evaluate", "--bundle", "ct", "--nproc", "2", *DRY], {},
     [_bundle_run(BUNDLE_CT, "train.json", "evaluate.json", "multi_gpu_evaluate.json", nproc=2)]],
    ["demo", ["demo", *DRY], {}, [["{python}", "-m", "meddisseg_monai.demo", "--output_dir", "{cwd}/demo_output"]]],
    ["demo_dir", ["demo", *DRY], {"MEDDISSEG_DEMO_DIR": "/out/demo"},
     [["{python}", "-m", "meddisseg_monai.demo", "--output_dir", "/out/demo"]]],
    ["demo_options", ["demo", *DRY, "--stage2_epochs", "2", "--output_dir", "/o"], {"MEDDISSEG_DEMO_DIR": "/out/demo"},
     [["{python}", "-m", "meddisseg_monai.demo", "--output_dir", "/o", "--stage2_epochs", "2"]]],
    ["tests", ["tests", "-q", "-k", "not slow", "tests/losses"], {"MEDDISSEG_DRY_RUN": "1"},
     [["env", "MEDDISSEG_SKIP_MONAILABEL=0", "bash", "{root}/scripts/run_tests.sh", "-q", "-k", "not slow",
       "tests/losses"]]],
    ["tests_no_monailabel", ["tests"], {"MEDDISSEG_DRY_RUN": "1", "MEDDISSEG_MONAILABEL_VENV": "/nowhere"},
     [["env", "MEDDISSEG_SKIP_MONAILABEL=1", "bash", "{root}/scripts/run_tests.sh"]]],
    ["torchrun", ["torchrun", "--nproc_per_node=2", "-m", "monai.bundle", "run", "--config_file", "c.json"],
     {"MEDDISSEG_DRY_RUN": "1"},
     [[f"{BIN}/torchrun", "--nproc_per_node=2", "-m", "monai.bundle", "run", "--config_file", "c.json"]]],
    ["python", ["python", "-c", "print('it works')"], {"MEDDISSEG_DRY_RUN": "1"},
     [[f"{BIN}/python", "-c", "print('it works')"]]],
    ["path_program", ["bash", "-c", 'echo "$HOME" \\'], {"MEDDISSEG_DRY_RUN": "1"},
     [["bash", "-c", 'echo "$HOME" \\']]],
]  # fmt: skip
ERROR_CASES = [
    ["unknown", ["trian"], {}, "unknown command or program 'trian'"],
    ["option_first", ["--epochs", "2"], {}, "unknown command or program '--epochs'"],
    ["bundle", ["train", "--bundle", "mri", *DRY], {}, "unknown bundle 'mri': 2d, ct, or a bundle folder"],
    ["bundle_env", ["train", *DRY], {"MEDDISSEG_BUNDLE": "3d"}, "unknown bundle '3d'"],
    ["stage1_ct", ["train-stage1", "--bundle", "ct", *DRY], {}, "train-stage1 is a stage of the 2D bundle"],
    ["nproc_inference", ["inference", "--nproc", "2", *DRY], {}, "--nproc is for train-stage1, train and evaluate"],
    ["nproc_number", ["train", "--nproc", "two", *DRY], {}, "--nproc needs a positive whole number, got 'two'"],
    ["nproc_zero", ["train", "--nproc", "0", *DRY], {}, "--nproc needs a positive whole number, got '0'"],
    ["no_multi_gpu_config", ["evaluate", "--bundle", "{cwd}/ct_copy", "--nproc", "2", *DRY], {},
     "ct_copy has no configs/multi_gpu_evaluate.json (needed by evaluate --nproc)"],
    ["stray_word", ["train", "ct", *DRY], {}, "unexpected argument(s) ct: options and overrides are --name value"],
    ["dataset_dir", ["train", "--dataset_dir", "/nowhere/Kvasir-SEG", *DRY], {},
     "--dataset_dir: no folder /nowhere/Kvasir-SEG (inside a container, mount it first"],
    ["datalist_folder", ["train", "--datalist", "{data}", *DRY], {}, "--datalist: no file {data}"],
    ["input", ["inference", "--input", "/nowhere/images", *DRY], {}, "--input: no file or folder /nowhere/images"],
    ["ckpt_path", ["evaluate", "--bundle", "ct", "--ckpt_path", "/nowhere/model.pt", *DRY], {},
     "--ckpt_path: no file /nowhere/model.pt"],
    ["model_file", ["inference", "--model_file", "{data}/my images", *DRY], {},
     "--model_file: no file {data}/my images"],
    ["dry_run_value", ["train", "--dry_run", "yes"], {"MEDDISSEG_DRY_RUN": "1"}, "--dry_run is a flag"],
    ["demo_word", ["demo", "fast", *DRY], {}, "unexpected argument(s) fast"],
    ["no_monailabel", ["monailabel", *DRY], {"MEDDISSEG_MONAILABEL_VENV": "/nowhere"}, "--build-arg WITH_MONAILABEL=1"],
    ["monailabel_model", ["monailabel", "--model", "/nowhere/model.pt", *DRY], {},
     "--model: no file /nowhere/model.pt"],
    ["monailabel_2d", ["monailabel", "--bundle", "2d", *DRY], {}, "monailabel serves the CT bundle only"],
    ["monailabel_conf", ["monailabel", "--conf", "skip_scoring", *DRY], {}, "--conf takes a dict of MONAI Label confs"],
]  # fmt: skip


class TestContainerCommands(unittest.TestCase):
    """The CLI in a temporary working directory, MONAI Label's environment taken to be this one (dry runs only look
    for its Python)."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.cwd = Path(tmp.name)
        self.data = self.cwd / "data"
        (self.data / "my images").mkdir(parents=True)
        (self.data / "model.pt").write_bytes(b"")  # only looked for: dry runs read nothing
        self.monailabel_python = Path(sys.prefix) / "bin" / "python"

    def container(self, args, env=None):
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MEDDISSEG_")}
        environ["MEDDISSEG_MONAILABEL_VENV"] = sys.prefix
        environ.update(env or {})
        command = [sys.executable, "-m", "meddisseg_monai.cli.container", *self.expand(args)]
        return subprocess.run(command, cwd=self.cwd, env=environ, capture_output=True, text=True, timeout=120)

    def expand(self, words):
        paths = {"{python}": sys.executable, "{root}": str(REPO_ROOT), "{cwd}": str(self.cwd), "{data}": str(self.data),
                 "{ml}": str(self.monailabel_python)}  # fmt: skip
        for placeholder, path in paths.items():
            words = [w.replace(placeholder, path) for w in words]
        return words

    def dry_run_lines(self, result):
        self.assertEqual(result.returncode, 0, result.stderr)
        return [shlex.split(line) for line in result.stdout.splitlines()]

    @parameterized.expand(COMMAND_CASES)
    def test_command(self, _, args, env, expected):
        result = self.container(args, env)
        self.assertEqual(self.dry_run_lines(result), [self.expand(line) for line in expected])

    @parameterized.expand(ERROR_CASES)
    def test_error(self, _, args, env, message):
        configs = self.cwd / "ct_copy" / "configs"  # the CT bundle's configs but one
        shutil.copytree(REPO_ROOT / "bundle" / "meddisseg_ct_segmentation" / "configs", configs)
        (configs / "multi_gpu_evaluate.json").unlink()
        result = self.container(args, env)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(self.expand([message])[0], result.stderr)
        self.assertEqual(result.stdout, "", "nothing would run")

    @parameterized.expand([[[]], [["help"]], [["--help"]]])
    def test_help(self, args):
        result = self.container(args)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(f"usage: {PROGRAM} COMMAND"), result.stdout)
        for command in [*COMMANDS, "tests", "help", "--bundle", "--nproc"]:
            self.assertRegex(result.stdout, rf"(?m)^\s+{command}\s", command)

    @parameterized.expand([[name] for name in COMMANDS])
    def test_command_help(self, command):
        """--help describes the command and runs nothing (fire would have passed it on as an override)."""
        result = self.container([command, "--help"], {"MEDDISSEG_DRY_RUN": "1"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(f"usage: {PROGRAM} {command} [--name value ...]"), result.stdout)
        self.assertIn("dry_run:", result.stdout)
        self.assertNotIn(sys.executable, result.stdout, "no command line: nothing would run")

    def test_monailabel(self):
        """Prepares the app and the bundle in the working directory (first start only), then starts the server."""
        server = [
            "{ml}", "-m", "monailabel.main", "start_server", "--app", "{cwd}/monailabel-apps/monaibundle",
            "--studies", "{cwd}/studies", "--conf", "models", "meddisseg_ct", "--conf", "zoo_source", "github",
            "--conf", "sam2", "false", "--host", "0.0.0.0", "--port", "8000",
        ]  # fmt: skip
        model_dir = "{cwd}/monailabel-apps/monaibundle/model/meddisseg_ct"
        options = ["--model", "{data}/model.pt", "--conf", "{skip_scoring: false}", "--workers", "1", "--dryrun"]
        result = self.container(["monailabel", *DRY, *options])
        expected = [
            ["{ml}", "-m", "monailabel.main", "apps", "--download", "--name", "monaibundle", "--output",
             "{cwd}/monailabel-apps"],
            ["cp", "-r", BUNDLE_CT, model_dir],
            ["cp", "{data}/model.pt", f"{model_dir}/models/model.pt"],
            ["mkdir", "-p", "{cwd}/studies"],
            server[:-4] + ["--conf", "skip_scoring", "false"] + server[-4:] + ["--workers", "1", "--dryrun"],
        ]  # fmt: skip
        self.assertEqual(self.dry_run_lines(result), [self.expand(line) for line in expected])
        # prepared already: only the server, here with another datastore, host and port
        Path(self.expand([model_dir])[0]).mkdir(parents=True)
        result = self.container(["monailabel", *DRY, "--studies", "{data}", "--port", "9000", "--host", "127.0.0.1"])
        server[server.index("--studies") + 1] = "{data}"
        server[-3:] = ["127.0.0.1", "--port", "9000"]
        self.assertEqual(self.dry_run_lines(result), [self.expand(server)])

    def test_runs_programs(self):
        """Without a dry run the program replaces the CLI, with its arguments and exit status."""
        result = self.container(["python", "-c", "import sys; print(sys.argv[1]); sys.exit(3)", "a 'b' c"])
        self.assertEqual((result.returncode, result.stdout), (3, "a 'b' c\n"), result.stderr)

    def test_every_workflow_config_exists(self):
        """The configs each workflow command names are in both bundles (train-stage1: the 2D one only)."""
        for command, (configs, multi_gpu_config) in WORKFLOWS.items():
            bundles = ["2d"] if command == "train-stage1" else ["2d", "ct"]
            for bundle in bundles:
                folder = REPO_ROOT / "bundle" / BUNDLES[bundle] / "configs"
                for config in [*configs, *([multi_gpu_config] if multi_gpu_config else [])]:
                    self.assertTrue((folder / config).is_file(), f"{bundle}: {config}")


@pytest.mark.slow
class TestContainerRun(unittest.TestCase):
    def test_stage1_through_the_console_script(self):
        """The console script the images' ENTRYPOINT names runs Stage I of the 2D bundle on real Kvasir-SEG images
        (64^2, one epoch) from another working directory: its command line is one monai.bundle runs."""
        script = BIN / PROGRAM
        self.assertTrue(script.is_file(), f"no {script}: bash scripts/install.sh test installs setup.cfg's scripts")
        with tempfile.TemporaryDirectory() as tmp:
            datalist, dataset_dir = kvasir_datalist(Path(tmp) / "datalist.json", train=4, validation=2, test=0)
            out = Path(tmp) / "run"
            env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
            command = [str(script), "train-stage1", *bundle_overrides(datalist, dataset_dir, out), "--epochs", "1"]
            result = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
            checked_output(result, f"{PROGRAM} train-stage1")
            self.assertTrue((out / "models" / "model_stage1.pt").is_file(), result.stdout[-2000:])


if __name__ == "__main__":
    unittest.main()
