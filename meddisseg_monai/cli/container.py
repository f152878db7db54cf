"""``meddisseg-container``: the entrypoint of the Docker images (``docker/Dockerfile.cpu``, ``docker/Dockerfile.cuda``).

usage: meddisseg-container COMMAND [OPTIONS] [OVERRIDES...]
       meddisseg-container PROGRAM [ARGS...]

Commands (OVERRIDES, --name value, go to `python -m monai.bundle run` as they are, e.g. --dataset_dir
/data/Kvasir-SEG --output_dir /workspace/out; `meddisseg-container COMMAND --help` describes one):
  demo           the README's main job (python -m meddisseg_monai.demo): Stage I -> Stage II -> evaluate -> inference
                 on a small default, into --output_dir (default $MEDDISSEG_DEMO_DIR, else ./demo_output); its other
                 options are the demo's (python -m meddisseg_monai.demo --help), e.g. --stage2_epochs 2
  train-stage1   Stage I of the 2D bundle (configs/train.json + configs/train_stage1.json)
  train          training (configs/train.json; 2D: Stage II)
  evaluate       evaluation (configs/train.json + configs/evaluate.json)
  inference      inference (configs/inference.json), e.g. --input /data/images
  monailabel     MONAI Label server with the CT bundle, offline (needs the MONAI Label environment: build the image
                 with --build-arg WITH_MONAILABEL=1). Options: --studies DIR (default ./studies), --port N (8000),
                 --host H (0.0.0.0), --model FILE (weights to serve), --conf "{KEY: VALUE}" (more MONAI Label confs);
                 other --name value options go to `monailabel.main start_server` (a bare flag stays bare)
  tests          the test suite (scripts/run_tests.sh; every argument goes to pytest as it is)
  help           this message

Options of train-stage1, train, evaluate, inference:
  --bundle B     2d or ct (bundle/meddisseg_2d_segmentation, bundle/meddisseg_ct_segmentation), or a bundle folder;
                 default $MEDDISSEG_BUNDLE, else 2d
  --nproc N      N processes through torchrun (one per GPU; train-stage1, train and evaluate), adding the bundle's
                 configs/multi_gpu_train.json or configs/multi_gpu_evaluate.json
Inputs named by --dataset_dir, --datalist, --input (and the weights, --ckpt_path or --model_file, of evaluate and
inference) must be there before anything runs: a path inside the container needs its mount (-v HOST:/data:ro).

--dry_run (every command but tests) prints the command(s) it would run, one line each, shell-quoted (shlex.split gives
back the argument list), and runs nothing. MEDDISSEG_DRY_RUN=1 does the same for every command, tests and programs too.

Any other PROGRAM runs as it is, from the environment first, else from PATH: python, torchrun, meddisseg-datalist,
bash, ...

Environment: MEDDISSEG_BUNDLE and MEDDISSEG_DRY_RUN (above); MEDDISSEG_MONAILABEL_VENV, the MONAI Label environment
(default <repository>/.venv-monailabel); MEDDISSEG_MONAILABEL_APPS, where `monailabel` keeps the app and its copy of
the bundle (default ./monailabel-apps); MEDDISSEG_SKIP_MONAILABEL, for tests (default: 1 without that environment).
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import fire
from fire.parser import DefaultParseValue

__all__ = [
    "PROGRAM",
    "REPOSITORY",
    "BUNDLES",
    "WORKFLOWS",
    "COMMANDS",
    "ContainerError",
    "bundle_folder",
    "workflow_command",
    "monailabel_commands",
    "tests_command",
    "program_command",
    "run",
    "main",
]

PROGRAM = "meddisseg-container"
#: the checkout the package is installed from (editable install): its bundles and scripts
REPOSITORY = Path(__file__).resolve().parents[2]
BUNDLES = {"2d": "meddisseg_2d_segmentation", "ct": "meddisseg_ct_segmentation"}
#: each workflow command: its config files, in order (each overrides those before), and its multi-GPU override
WORKFLOWS = {
    "train-stage1": (("train.json", "train_stage1.json"), "multi_gpu_train.json"),
    "train": (("train.json",), "multi_gpu_train.json"),
    "evaluate": (("train.json", "evaluate.json"), "multi_gpu_evaluate.json"),
    "inference": (("inference.json",), None),
}
_DESCRIPTIONS = {
    "train-stage1": "Stage I of the 2D bundle (configs/train.json + configs/train_stage1.json).",
    "train": "Training (configs/train.json; in the 2D bundle: Stage II).",
    "evaluate": "Evaluation (configs/train.json + configs/evaluate.json).",
    "inference": "Inference (configs/inference.json), e.g. ``--input /data/images``.",
}
_MISSING_CONFIG_HINTS = {
    "train_stage1.json": "train-stage1 is a stage of the 2D bundle; the CT bundle trains with 'train'",
}
#: overrides naming inputs that must be there before a workflow starts, and what each must be
_INPUTS = {"dataset_dir": "folder", "datalist": "file", "input": "file or folder"}
#: the same for the weights that evaluate and inference load
_WEIGHTS = {"ckpt_path": "file", "model_file": "file"}
_IS_KIND = {"folder": Path.is_dir, "file": Path.is_file, "file or folder": Path.exists}
DRY_RUN_ENV = "MEDDISSEG_DRY_RUN"
#: the name of the CT bundle in MONAI Label's app (its folder <app>/model/<name>)
MONAILABEL_MODEL = "meddisseg_ct"
#: confs of every server: serve the CT bundle, and stay offline (docs/monailabel.md)
MONAILABEL_CONFS = {"models": MONAILABEL_MODEL, "zoo_source": "github", "sam2": "false"}


class ContainerError(ValueError):
    """A command line the container cannot run: an unknown command, bundle or option, or an input that is not there."""


def _dry_run(flag: Any = False) -> bool:
    if not isinstance(flag, bool):
        raise ContainerError(f"--dry_run is a flag (--dry_run, or --dry_run=False), got {flag!r}")
    return flag or os.environ.get(DRY_RUN_ENV, "") == "1"


def _flags(options: Mapping[str, Any]) -> list[str]:
    """``{"name": value}`` -> ``["--name", "value", ...]``, in order."""
    return [word for name, value in options.items() for word in (f"--{name}", str(value))]


def bundle_folder(bundle: str | None = None) -> Path:
    """The folder of a bundle: ``2d``, ``ct`` (or their full names) in the repository, or any bundle folder.

    Args:
        bundle: the name or folder; default ``$MEDDISSEG_BUNDLE``, else ``2d``.

    Raises:
        ContainerError: an unknown name, or a folder without ``configs/``.
    """
    name = str(bundle or os.environ.get("MEDDISSEG_BUNDLE") or "2d")
    full_name = BUNDLES.get(name, name)
    if full_name in BUNDLES.values():
        folder = REPOSITORY / "bundle" / full_name
        if not (folder / "configs").is_dir():
            raise ContainerError(
                f"no bundle at {folder}: {PROGRAM} finds the bundles in the checkout it is installed from "
                "(scripts/install.sh, an editable install); else pass --bundle FOLDER"
            )
        return folder
    folder = Path(name).absolute()
    if not (folder / "configs").is_dir():
        raise ContainerError(f"unknown bundle {name!r}: 2d, ct, or a bundle folder (one with configs/)")
    return folder


def _check_inputs(command: str, overrides: Mapping[str, Any]) -> None:
    """Stop on an input override (a folder, a file) that is not there, before anything starts."""
    checks = {**_INPUTS, **(_WEIGHTS if command in ("evaluate", "inference") else {})}
    for name, kind in checks.items():
        value = str(overrides.get(name, ""))
        if not value or value.startswith(("$", "@", "%")):  # unset, or an expression the bundle resolves
            continue
        if not _IS_KIND[kind](Path(value)):
            raise ContainerError(
                f"--{name}: no {kind} {value} (inside a container, mount it first: docker run -v HOST_PATH:/data:ro)"
            )


def workflow_command(
    command: str, bundle: str | None = None, nproc: Any = None, overrides: Mapping[str, Any] | None = None
) -> list[str]:
    """The command line of a workflow command: ``python -m monai.bundle run`` with the bundle's configs (under
    ``python -m torch.distributed.run``, i.e. torchrun, with ``nproc``), then the overrides as they are.

    Args:
        command: a key of :data:`WORKFLOWS`.
        bundle: see :func:`bundle_folder`.
        nproc: the number of processes (train-stage1, train, evaluate), or ``None`` for one.
        overrides: ``--name value`` overrides of the bundle, in order.

    Raises:
        ContainerError: an unknown bundle, a bad ``nproc``, a config the bundle lacks, a missing input.
    """
    configs, multi_gpu_config = WORKFLOWS[command]
    overrides = dict(overrides or {})
    folder = bundle_folder(bundle)
    if nproc is not None:
        if multi_gpu_config is None:
            raise ContainerError(f"--nproc is for train-stage1, train and evaluate, not {command}")
        if not str(nproc).isdigit() or int(nproc) < 1:
            raise ContainerError(f"--nproc needs a positive whole number, got {nproc!r}")
        configs = (*configs, multi_gpu_config)
    for config in configs:
        if not (folder / "configs" / config).is_file():
            hint = _MISSING_CONFIG_HINTS.get(config, f"needed by {command}{' --nproc' if nproc else ''}")
            raise ContainerError(f"the bundle {folder} has no configs/{config} ({hint})")
    _check_inputs(command, overrides)
    config_files = json.dumps([str(folder / "configs" / config) for config in configs])
    bundle_run = ["-m", "monai.bundle", "run", "--bundle_root", str(folder), "--config_file", config_files]
    launcher = [sys.executable]
    if nproc is not None:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc_per_node={int(nproc)}"]
    return [*launcher, *bundle_run, *_flags(overrides)]


def _monailabel_python() -> Path:
    venv = os.environ.get("MEDDISSEG_MONAILABEL_VENV") or REPOSITORY / ".venv-monailabel"
    return Path(venv) / "bin" / "python"


def monailabel_commands(
    studies: str | None = None,
    port: Any = 8000,
    host: str = "0.0.0.0",
    model: str | None = None,
    conf: Mapping[str, Any] | None = None,
    server_options: Mapping[str, Any] | None = None,
) -> list[list[str]]:
    """The commands that serve the CT bundle with MONAI Label's ``monaibundle`` app: on the first start, copy the app
    (offline, from the installed package) and the bundle under ``$MEDDISSEG_MONAILABEL_APPS`` (default
    ``./monailabel-apps``), where MONAI Label also writes its logs and trained weights; copy ``model`` to the bundle's
    ``models/model.pt``; then ``monailabel.main start_server`` (last).

    Args:
        studies: the datastore folder (default ``./studies``, made when missing).
        port, host: where the server listens.
        model: weights to serve.
        conf: more ``--conf KEY VALUE`` pairs of MONAI Label (beside those that keep it offline).
        server_options: more ``--name value`` options of ``start_server``; ``True`` (a bare flag) stays bare.

    Raises:
        ContainerError: no MONAI Label environment, no ``model`` file, a ``conf`` that is not a mapping.
    """
    python = _monailabel_python()
    if not os.access(python, os.X_OK):
        raise ContainerError(
            f"no MONAI Label environment (no Python at {python}): build the image with --build-arg WITH_MONAILABEL=1, "
            "or run scripts/install_monailabel.sh"
        )
    if model and not Path(model).is_file():
        raise ContainerError(f"--model: no file {model}")
    if conf is not None and not isinstance(conf, Mapping):
        raise ContainerError(f'--conf takes a dict of MONAI Label confs (--conf "{{sam2: false}}"), not {conf!r}')
    apps = Path(os.environ.get("MEDDISSEG_MONAILABEL_APPS") or Path.cwd() / "monailabel-apps").absolute()
    app = apps / "monaibundle"
    model_dir = app / "model" / MONAILABEL_MODEL
    studies_dir = Path(studies).absolute() if studies else Path.cwd() / "studies"
    steps = []
    if not app.is_dir():
        download = ["apps", "--download", "--name", "monaibundle", "--output", str(apps)]
        steps.append([str(python), "-m", "monailabel.main", *download])
    if not model_dir.is_dir():
        steps.append(["cp", "-r", str(bundle_folder("ct")), str(model_dir)])
    if model:
        steps.append(["cp", str(model), str(model_dir / "models" / "model.pt")])
    if not studies_dir.is_dir():
        steps.append(["mkdir", "-p", str(studies_dir)])
    server = [str(python), "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(studies_dir)]
    for key, value in {**MONAILABEL_CONFS, **(conf or {})}.items():
        server += ["--conf", str(key), str(value)]
    server += ["--host", str(host), "--port", str(port)]
    for name, value in (server_options or {}).items():
        server += [f"--{name}"] if str(value) == "True" else [f"--{name}", str(value)]
    return [*steps, server]


def tests_command(pytest_args: Sequence[str]) -> list[str]:
    """``scripts/run_tests.sh`` with ``pytest_args``; the MONAI Label server test skips without its environment."""
    script = REPOSITORY / "scripts" / "run_tests.sh"
    if not script.is_file():
        raise ContainerError(f"no {script}: the tests run from the checkout the package is installed from")
    skip = os.environ.get("MEDDISSEG_SKIP_MONAILABEL") or ("0" if os.access(_monailabel_python(), os.X_OK) else "1")
    return ["env", f"MEDDISSEG_SKIP_MONAILABEL={skip}", "bash", str(script), *pytest_args]


def program_command(argv: Sequence[str]) -> list[str]:
    """``argv`` as it is, its program taken from this environment (``python``, ``torchrun``, ``meddisseg-datalist``)
    when it is there, else from ``PATH``.

    Raises:
        ContainerError: neither a command of this CLI nor a program.
    """
    name, *args = argv
    beside = Path(sys.executable).parent / name
    if "/" not in name and os.access(beside, os.X_OK):
        return [str(beside), *args]
    if not name.startswith("-") and shutil.which(name):
        return [name, *args]
    raise ContainerError(
        f"unknown command or program {name!r}: the commands are {', '.join(COMMANDS)}, tests and help "
        f"({PROGRAM} help describes them); anything else must be a program (python, torchrun, bash, ...)"
    )


def run(commands: Sequence[Sequence[str]], dry_run: bool = False) -> None:
    """Print (``dry_run``) or run ``commands``: each but the last to its end, then the last in place of this process
    (its exit status, its signals: ``docker stop`` reaches the workflow).

    Raises:
        ContainerError: a step before the last failed.
    """
    if dry_run:
        for command in commands:
            print(shlex.join(command))
        return
    for command in commands[:-1]:
        status = subprocess.run(command).returncode
        if status != 0:
            raise ContainerError(f"{shlex.join(command)} failed (exit status {status})")
    sys.stdout.flush()
    os.execvp(commands[-1][0], list(commands[-1]))


def _verbatim(function: Callable) -> Callable:
    """fire passes every value as the string given (``[64,64,64]`` stays what ``monai.bundle`` parses), except
    ``--dry_run`` (a flag) and ``--conf`` (a dict)."""
    function = fire.decorators.SetParseFn(str)(function)
    return fire.decorators.SetParseFn(DefaultParseValue, "dry_run", "conf")(function)


def _no_words(words: Sequence[str]) -> None:
    """Stop on words that are not ``--name value`` pairs: fire would apply them to the result, after the run."""
    if words:
        raise ContainerError(f"unexpected argument(s) {' '.join(words)}: options and overrides are --name value")


def _workflow(command: str) -> Callable:
    @_verbatim
    def workflow(*words: str, bundle: str | None = None, nproc: Any = None, dry_run: bool = False, **overrides: Any):
        _no_words(words)
        run([workflow_command(command, bundle, nproc, overrides)], _dry_run(dry_run))

    workflow.__name__ = workflow.__qualname__ = command.replace("-", "_")
    workflow.__doc__ = f"""{_DESCRIPTIONS[command]}

        Args:
            bundle: ``2d``, ``ct`` or a bundle folder (default ``$MEDDISSEG_BUNDLE``, else ``2d``).
            nproc: processes through torchrun, one per GPU (not for inference), with the bundle's multi-GPU config.
            dry_run: print the command line instead of running it.
            overrides: ``--name value`` overrides of the bundle (its docs list them), passed on as they are.
        """
    return workflow


@_verbatim
def demo(*words: str, dry_run: bool = False, **options: Any) -> None:
    """The README's main job (``python -m meddisseg_monai.demo``): Stage I -> Stage II -> evaluate -> inference.

    Args:
        dry_run: print the command line instead of running it.
        options: the demo's options (``python -m meddisseg_monai.demo --help``); ``--output_dir`` defaults to
            ``$MEDDISSEG_DEMO_DIR``, else ``./demo_output``.
    """
    _no_words(words)
    output_dir = options.pop("output_dir", None) or os.environ.get("MEDDISSEG_DEMO_DIR") or Path.cwd() / "demo_output"
    command = [sys.executable, "-m", "meddisseg_monai.demo", "--output_dir", str(output_dir), *_flags(options)]
    run([command], _dry_run(dry_run))


@_verbatim
def monailabel(
    *words: str,
    studies: str | None = None,
    port: str = "8000",
    host: str = "0.0.0.0",
    model: str | None = None,
    conf: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    **server_options: Any,
) -> None:
    """MONAI Label server with the CT bundle, offline (the commands of :func:`monailabel_commands`).

    Args:
        studies: the datastore folder (default ``./studies``).
        port: the port (default 8000).
        host: the address (default 0.0.0.0).
        model: weights to serve, copied to the bundle's ``models/model.pt``.
        conf: more MONAI Label confs, e.g. ``--conf "{skip_scoring: false}"``.
        dry_run: print the commands instead of running them.
        server_options: more ``--name value`` options of ``monailabel.main start_server``.
    """
    _no_words(words)
    if "bundle" in server_options:
        raise ContainerError("monailabel serves the CT bundle only (MONAI Label's monaibundle app is 3D)")
    run(monailabel_commands(studies, port, host, model, conf, server_options), _dry_run(dry_run))


#: the commands whose options fire parses (``tests`` and programs take their arguments as they are)
COMMANDS: dict[str, Callable] = {"demo": demo, **{name: _workflow(name) for name in WORKFLOWS}}
COMMANDS["monailabel"] = monailabel


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: ``meddisseg-container COMMAND ...`` (the module's docstring is its usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    word = argv[0] if argv else "help"
    try:
        if word in ("help", "-h", "--help"):
            print(__doc__.split("\n\n", 1)[1].rstrip())
        elif word in COMMANDS:
            if {"-h", "--help"} & set(argv[1:]):  # fire would take --help for an override: the commands take any --name
                print(f"usage: {PROGRAM} {word} [--name value ...]\n\n{inspect.getdoc(COMMANDS[word])}")
            else:
                fire.Fire(COMMANDS[word], argv[1:], name=f"{PROGRAM} {word}")
        elif word == "tests":
            run([tests_command(argv[1:])], _dry_run())
        else:
            run([program_command(argv)], _dry_run())
    except ContainerError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
