"""What a ``python -m monai.bundle run`` command line gets from the bundles: strict overrides and a readable end.

``monai.bundle run`` adds every ``--name value`` it does not know to the config, so a typo (``--epoch 1``) is
silently a new, unused entry and the default (300 epochs) runs. :func:`check_overrides` compares the names given on
the command line with the ids the config files define and stops the run before any work, naming the nearest valid
ids (``--epoch``: did you mean ``--epochs``?).

A failing bundle run ends in a long traceback whose last line is MONAI's wrapper ("Failed to evaluate
ConfigExpression ..."), the cause sitting dozens of lines above. :func:`install_error_summary` makes the run end
with one line that states the root cause instead (the full traceback is still printed above it).

The bundles call :func:`check_command_line` (both) as the first entry of their ``initialize`` lists. Either is a
no-op outside the ``monai.bundle`` command line (in MONAI Label, a notebook or ``ConfigWorkflow`` in Python).
"""

from __future__ import annotations

import ast
import difflib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

__all__ = [
    "RUN_ARGUMENTS",
    "UnknownOverrideError",
    "check_command_line",
    "check_overrides",
    "config_ids",
    "describe_root_cause",
    "install_error_summary",
    "is_bundle_command_line",
    "root_cause",
]

#: arguments of ``monai.bundle run`` / ``ConfigWorkflow`` themselves (not config overrides)
RUN_ARGUMENTS = (
    "run_id",
    "init_id",
    "final_id",
    "meta_file",
    "config_file",
    "logging_file",
    "tracking",
    "args_file",
    "workflow_type",
    "workflow_name",
    "properties_path",
)
ERROR_PREFIX = "meddisseg: error:"


class UnknownOverrideError(KeyError):
    """A command-line override names an id that no config file of the run defines."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def is_bundle_command_line(argv: Sequence[str] | None = None) -> bool:
    """Whether this process is ``python -m monai.bundle ...`` (directly or under ``torchrun``)."""
    argv = sys.argv if argv is None else argv
    if not argv:
        return False
    script = os.path.normpath(str(argv[0]))
    return script.endswith(os.path.join("monai", "bundle", "__main__.py")) or script.endswith(
        os.path.join("monai", "bundle")
    )


def config_ids(config: Any, prefix: str = "") -> dict[str, Any]:
    """Every id of a config (``{"a": {"b": 1}}`` -> ``{"a": {...}, "a#b": 1}``; list items are numbered)."""
    ids: dict[str, Any] = {}
    items: Iterable = (
        config.items() if isinstance(config, Mapping) else enumerate(config) if isinstance(config, list) else ()
    )
    for key, value in items:
        name = f"{prefix}#{key}" if prefix else str(key)
        ids[name] = value
        ids.update(config_ids(value, name))
    return ids


def _command_line_names(argv: Sequence[str]) -> list[str]:
    """The ``--name`` tokens after ``run`` (fire's ``--name=value`` form included)."""
    names = []
    for token in argv:
        if token.startswith("--") and len(token) > 2:
            names.append(token[2:].split("=", 1)[0])
    return names


def _config_files(argv: Sequence[str]) -> list[str]:
    """The ``--config_file`` value of a command line, as a list of paths."""
    value = None
    for index, token in enumerate(argv):
        if token in ("--config_file", "--config-file") and index + 1 < len(argv):
            value = argv[index + 1]
        elif token.startswith(("--config_file=", "--config-file=")):
            value = token.split("=", 1)[1]
    if value is None:
        return []
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return [str(p) for p in parsed] if isinstance(parsed, (list, tuple)) else [str(parsed)]


def _is_known(name: str, ids: Mapping[str, Any]) -> bool:
    if name in ids:
        return True
    # an argument of a component the config defines (``--network_def#dropout 0.1``): the component checks it
    parent = name.rsplit("#", 1)[0] if "#" in name else None
    return parent is not None and isinstance(ids.get(parent), Mapping) and "_target_" in ids[parent]


def check_overrides(names: Iterable[str], config: Mapping | Sequence[str | os.PathLike]) -> None:
    """Raise :class:`UnknownOverrideError` for any override ``names`` that ``config`` does not define.

    A name is known when it is an id of the config (``epochs``, ``train#dataset#cache_rate``; ``::`` works as ``#``),
    an argument of ``monai.bundle run`` itself, or a new argument of a component the config defines
    (``network_def#dropout``: the component's constructor checks it).

    Args:
        names: the override names (without the leading ``--``).
        config: the config content, or the config files of the run (merged in order, as ``monai.bundle`` does).

    Raises:
        UnknownOverrideError: every unknown name, each with the nearest valid ids.
    """
    if not isinstance(config, Mapping):
        from monai.bundle import ConfigParser

        config = ConfigParser.load_config_files([str(p) for p in config])
    ids = config_ids(config)
    unknown = []
    for raw in names:
        name = raw.replace("::", "#")
        if name in RUN_ARGUMENTS or name.replace("-", "_") in RUN_ARGUMENTS or _is_known(name, ids):
            continue
        candidates = [i for i in ids if not i.split("#")[-1].isdigit()]
        nearest = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join('--' + n for n in nearest)}?" if nearest else "no similar option exists"
        unknown.append(f"--{raw} ({hint})")
    if unknown:
        raise UnknownOverrideError(
            f"unknown option(s) {'; '.join(unknown)}. No config of this run defines them, so they would be ignored; "
            "the bundle docs list every option."
        )


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain (``raise ... from ...`` or an exception raised while handling another)."""
    seen = {id(error)}
    while True:
        nested = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if nested is None or id(nested) in seen:
            return error
        seen.add(id(nested))
        error = nested


def describe_root_cause(error: BaseException) -> str:
    """``"<Type>: <message>"`` of the root cause of ``error``."""
    cause = root_cause(error)
    message = str(cause).strip()
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__


def _summarising_hook(
    previous: Any, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    previous(exc_type, exc, tb)
    if isinstance(exc, KeyboardInterrupt):
        return
    try:
        sys.stderr.write(f"\n{ERROR_PREFIX} {describe_root_cause(exc)}\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - never hide the traceback behind a failing summary
        pass


def install_error_summary() -> None:
    """Make an uncaught error end the output with ``meddisseg: error: <root cause>`` (once per process)."""
    if getattr(sys.excepthook, "_meddisseg_summary", False):
        return
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _summarising_hook(previous, exc_type, exc, tb)

    hook._meddisseg_summary = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def check_command_line(argv: Sequence[str] | None = None) -> None:
    """On the ``monai.bundle`` command line: install the error summary and check the overrides against the config
    files of the run. Elsewhere: nothing (MONAI Label and Python callers pass their overrides as dicts)."""
    argv = list(sys.argv if argv is None else argv)
    if not is_bundle_command_line(argv):
        return
    install_error_summary()
    files = _config_files(argv)
    if files:
        check_overrides(_command_line_names(argv[1:]), files)
