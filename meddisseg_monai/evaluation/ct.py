"""Per-organ, per-case evaluation of multi-organ CT label maps (NIfTI) on their own grid, in millimetres.

For every case and organ of the label set, the prediction and the ground truth (both reoriented to RAS, required to
lie on the same voxel grid) give one of four statuses:

- ``present``: the organ is in both: Dice and HD95 (95th percentile of the symmetric surface distances, in mm, the
  voxel spacing applied) are reported;
- ``absent``: in neither: no Dice, no HD95 (reported as absent, never as 0 or 1);
- ``missed``: only in the truth: Dice 0, HD95 undefined (no predicted surface);
- ``spurious``: only in the prediction: Dice 0, HD95 undefined (no true surface).

Per organ, the summary averages Dice over the cases where the organ is in the truth or the prediction, and HD95 over
the ``present`` cases, and counts every status. A case that cannot be read or checked (bad file, NaN voxels, ids
outside the label source, different grids, ...) is reported with its error and the other cases still finish.

Cases are named by their datalist entry (a ``case`` field, else the image's unique output name), so entries whose
files share a name are all reported. Outputs: ``per_case.csv`` (one row per case and organ; one ``error`` row per
failed case) and ``summary.json`` (``num_entries``, ``num_evaluated``, ``num_failed``, ...). Nothing evaluated is an
error (:class:`EvaluationError`; the command line exits 1 when any case failed).
Dice and HD95 come from MONAI's ``compute_dice`` and ``compute_hausdorff_distance``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.data import FolderLayout
from monai.metrics import compute_dice, compute_hausdorff_distance
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd
from monai.utils import ImageMetaKey

from ..data.ct import load_ct_cases, organ_names
from ..data.output_names import OutputNames
from ..transforms.ct import SOURCE_KEY, CheckCTVolumed, CheckSameGridd, RemapOrganLabelsd

__all__ = [
    "ORGAN_STATUSES",
    "CSV_FIELDS",
    "CTEvaluation",
    "EvaluationError",
    "case_name",
    "describe_error",
    "evaluate_case",
    "evaluate_cases",
    "name_cases",
    "organ_metrics",
    "prediction_path",
]

logger = logging.getLogger(__name__)

ORGAN_STATUSES = ("present", "absent", "missed", "spurious")
CSV_FIELDS = (
    "case",
    "organ",
    "status",
    "dice",
    "hd95_mm",
    "truth_volume_ml",
    "prediction_volume_ml",
    "prediction",
    "truth",
    "error",
)
_NIFTI_SUFFIXES = (".nii.gz", ".nii")


class EvaluationError(RuntimeError):
    """No case of an evaluation could be evaluated (the summary, written anyway, says why for each)."""


def case_name(case: Mapping, names: OutputNames | None = None) -> str:
    """A case's name: its ``case`` entry, else its image's output name in ``names`` (unique among the entries,
    see :class:`~meddisseg_monai.data.OutputNames`), else the image's (or label's) file name without NIfTI suffix."""
    if case.get("case"):
        return str(case["case"])
    path = str(case.get("image") or case.get("label") or case.get("pred") or "case")
    if names is not None and case.get("image"):
        return names.name(path)
    name = os.path.basename(os.path.normpath(path))
    for suffix in _NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def name_cases(cases: Sequence[Mapping], names: OutputNames | None = None) -> list[dict]:
    """Copies of ``cases`` with a unique ``case`` name each (:func:`case_name`; a repeated name gets ``#2``, ``#3``
    ...), so that every datalist entry is reported, whatever its file is called."""
    names = names if names is not None else OutputNames([c["image"] for c in cases if c.get("image")])
    named, seen = [], {}
    for case in cases:
        name = case_name(case, names)
        seen[name] = seen.get(name, 0) + 1
        named.append({**case, "case": name if seen[name] == 1 else f"{name}#{seen[name]}"})
    return named


def prediction_path(
    image: str,
    output_dir: str,
    postfix: str = "seg",
    extension: str = ".nii.gz",
    names: OutputNames | None = None,
) -> str:
    """Where ``SaveImaged(output_dir=..., output_postfix=postfix, output_ext=extension, separate_folder=False,
    output_name_formatter=names)`` writes the prediction for ``image`` (a file or a DICOM folder):
    ``<output_dir>/<name>_<postfix><extension>``, ``name`` the image's output name in ``names`` (default: its stem)."""
    layout = FolderLayout(output_dir, postfix=postfix, extension=extension, parent=False, makedirs=False)
    if names is None:
        return str(layout.filename(subject=os.path.normpath(str(image))))
    return str(layout.filename(subject=names({ImageMetaKey.FILENAME_OR_OBJ: str(image)})["subject"]))


def organ_metrics(
    prediction: np.ndarray | torch.Tensor,
    truth: np.ndarray | torch.Tensor,
    spacing: Sequence[float],
    organs: Sequence[str],
) -> list[dict]:
    """Per-organ status, Dice, HD95 (mm) and volumes (ml) of two label maps ``(X, Y, Z)`` on the same grid, whose
    class ``i + 1`` is ``organs[i]``."""
    prediction = torch.as_tensor(np.asarray(prediction)).long()
    truth = torch.as_tensor(np.asarray(truth)).long()
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and truth {tuple(truth.shape)} differ in shape.")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    rows = []
    for index, organ in enumerate(organs):
        p, t = prediction == index + 1, truth == index + 1
        n_p, n_t = int(p.sum()), int(t.sum())
        row = {
            "organ": organ,
            "dice": None,
            "hd95_mm": None,
            "truth_volume_ml": n_t * voxel_ml,
            "prediction_volume_ml": n_p * voxel_ml,
        }
        if n_p == 0 and n_t == 0:
            row["status"] = "absent"
        elif n_t == 0 or n_p == 0:
            row["status"] = "spurious" if n_t == 0 else "missed"
            row["dice"] = 0.0
        else:
            row["status"] = "present"
            # MONAI crops both masks to their union's bounding box before the distance transforms
            p_box, t_box = p[None, None].float(), t[None, None].float()
            row["dice"] = float(compute_dice(p_box, t_box, include_background=True, ignore_empty=False))
            row["hd95_mm"] = float(
                compute_hausdorff_distance(p_box, t_box, include_background=True, percentile=95, spacing=list(spacing))
            )
        rows.append(row)
    return rows


def _loader(label_set: str, label_source: str | Mapping | None) -> Compose:
    keys = ["pred", "label"]
    return Compose(
        [
            LoadImaged(keys, image_only=True),
            EnsureChannelFirstd(keys),
            CheckCTVolumed(keys),
            RemapOrganLabelsd("pred", label_set, source=label_set, source_key=None),
            RemapOrganLabelsd("label", label_set, source=label_source),
            Orientationd(keys, axcodes="RAS", labels=None),
            CheckSameGridd(("label", "pred")),
        ]
    )


def evaluate_case(
    case: Mapping, label_set: str, label_source: str | Mapping | None = None, loader: Callable | None = None
) -> list[dict]:
    """Rows of :func:`organ_metrics` for one ``{"pred": path, "label": path}`` case (plus ``case``, ``prediction``,
    ``truth``). The prediction holds the label set's classes; the truth is numbered as ``case["source_labels"]`` or
    ``label_source`` (default: the label set)."""
    loader = loader or _loader(label_set, label_source)
    data = loader({k: v for k, v in case.items() if k in ("pred", "label", SOURCE_KEY)})
    label = data["label"]
    affine = np.asarray(torch.as_tensor(label.affine), dtype=np.float64)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).tolist()
    rows = organ_metrics(data["pred"][0], label[0], spacing, organ_names(label_set))
    name = case_name(case)
    return [{"case": name, **row, "prediction": str(case["pred"]), "truth": str(case["label"])} for row in rows]


def describe_error(error: BaseException) -> str:
    """``"Type: message"`` of the root cause (MONAI's ``Compose`` wraps a transform's error in a RuntimeError)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {error}"


def _mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def summarise(rows: Sequence[Mapping], failures: Sequence[Mapping], label_set: str, num_cases: int) -> dict:
    """The JSON summary of per-case rows (see the module docstring)."""
    per_organ = {}
    for organ in organ_names(label_set):
        organ_rows = [r for r in rows if r.get("organ") == organ]
        counts = {status: sum(r["status"] == status for r in organ_rows) for status in ORGAN_STATUSES}
        per_organ[organ] = {
            "mean_dice": _mean(r["dice"] for r in organ_rows if r["status"] != "absent"),
            "mean_hd95_mm": _mean(r["hd95_mm"] for r in organ_rows if r["status"] == "present"),
            "cases_scored": len(organ_rows) - counts["absent"],
            **counts,
        }
    return {
        "label_set": label_set,
        "organs": list(organ_names(label_set)),
        "num_entries": num_cases,
        "num_cases": num_cases,
        "num_evaluated": num_cases - len(failures),
        "num_failed": len(failures),
        "mean_dice": _mean(v["mean_dice"] for v in per_organ.values()),
        "mean_hd95_mm": _mean(v["mean_hd95_mm"] for v in per_organ.values()),
        "per_organ": per_organ,
        "failed": list(failures),
        "conventions": (
            "status per organ and case: present (in truth and prediction: Dice, HD95 in mm), absent (in neither: "
            "no Dice, no HD95), missed (truth only: Dice 0, HD95 undefined), spurious (prediction only: Dice 0, HD95 "
            "undefined). mean_dice per organ: over cases that are not absent; mean_hd95_mm: over present cases; "
            "overall means: over organs with a value."
        ),
    }


def evaluate_cases(
    cases: Sequence[Mapping],
    output_dir: str | os.PathLike,
    label_set: str,
    label_source: str | Mapping | None = None,
    failures: Sequence[Mapping] = (),
) -> dict:
    """Evaluate every ``{"pred", "label"}`` case, write ``per_case.csv`` and ``summary.json`` under ``output_dir``,
    and return the summary. A case that fails is logged and reported (``failed`` in the summary, an ``error`` row in
    the CSV); the others still finish. ``failures`` are earlier failures (e.g. at inference) to report as well."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    loader = _loader(label_set, label_source)
    rows, failed = [], [dict(f) for f in failures]
    cases = [c if c.get("case") else {**c, "case": case_name(c)} for c in cases]
    for case in cases:
        try:
            rows.extend(evaluate_case(case, label_set, label_source, loader))
        except Exception as error:  # one bad case must not stop the others
            logger.error("evaluation of case %s failed: %s", case_name(case), describe_error(error))
            failed.append({"case": case_name(case), "error": describe_error(error)})
    with open(output_dir / "per_case.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in CSV_FIELDS})
        for failure in failed:
            writer.writerow({"case": failure["case"], "status": "error", "error": failure["error"]})
    summary = summarise(rows, failed, label_set, num_cases=len(cases) + len(failures))
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


class CTEvaluation:
    """The bundle's evaluation step: screen the cases before inference, then score the saved predictions.

    ``screen`` names every case (:func:`name_cases`: its ``case`` entry or its unique output name), loads and
    checks it with the given transform (the loading and checking part of the preprocessing) and returns those that
    pass; a failing case is logged and remembered, so a bad file stops neither the inference of the others nor the
    evaluation. ``run`` scores the predictions that ``SaveImaged`` wrote under ``prediction_dir`` (see
    :func:`prediction_path`; the same ``output_names``) against the original label files.

    The summary counts every datalist entry (``num_entries``), the evaluated and the failed ones. When no case could
    be evaluated, the summary is still written and :class:`EvaluationError` is raised, so the run exits non-zero.

    Args:
        output_dir: where ``per_case.csv`` and ``summary.json`` go.
        label_set: the network's label set.
        label_source: default numbering of the label files (a per-case ``source_labels`` entry wins).
        prediction_dir: where the predictions were saved (default ``output_dir``).
        prediction_postfix: ``output_postfix`` of the ``SaveImaged`` that wrote them.
        output_names: the ``output_name_formatter`` of that ``SaveImaged`` (default: made from the screened cases).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        label_set: str,
        label_source: str | Mapping | None = None,
        prediction_dir: str | os.PathLike | None = None,
        prediction_postfix: str = "seg",
        output_names: OutputNames | None = None,
    ) -> None:
        self.output_dir = str(output_dir)
        self.label_set = label_set
        self.label_source = label_source
        self.prediction_dir = str(prediction_dir or output_dir)
        self.prediction_postfix = prediction_postfix
        self.output_names = output_names
        self.failures: list[dict] = []
        self.num_entries = 0

    def screen(self, cases: Sequence[Mapping], transform: Callable) -> list[dict]:
        """The cases that ``transform`` (loading and checks) accepts, each with its ``case`` name; the others are
        logged and remembered. Raises :class:`EvaluationError` (after writing the summary) when none passes."""
        if self.output_names is None:
            self.output_names = OutputNames()
        self.output_names.update([c["image"] for c in cases if c.get("image")])  # every entry: names stay fixed
        named = name_cases(cases, self.output_names)
        self.num_entries = len(named)
        self.failures = []
        accepted = []
        for case in named:
            try:
                transform({k: v for k, v in case.items() if k != "case"})
            except Exception as error:  # report and go on with the other cases
                logger.error("case %s is skipped: %s", case["case"], describe_error(error))
                self.failures.append({"case": case["case"], "error": describe_error(error)})
            else:
                accepted.append(case)
        if not accepted:
            self._finish([])
        return accepted

    def _finish(self, scored: Sequence[Mapping]) -> dict:
        summary = evaluate_cases(scored, self.output_dir, self.label_set, self.label_source, failures=self.failures)
        logger.info(
            "evaluation: %d entries, %d evaluated, %d failed, mean Dice %s, mean HD95 %s mm -> %s",
            summary["num_entries"],
            summary["num_evaluated"],
            summary["num_failed"],
            summary["mean_dice"],
            summary["mean_hd95_mm"],
            self.output_dir,
        )
        if summary["num_evaluated"] == 0:
            reasons = "; ".join(f"{f['case']}: {f['error']}" for f in summary["failed"][:3])
            raise EvaluationError(
                f"no case could be evaluated ({summary['num_failed']} of {summary['num_entries']} failed; "
                f"{os.path.join(self.output_dir, 'summary.json')} lists each): {reasons}"
            )
        return summary

    def run(self, cases: Sequence[Mapping]) -> dict:
        """Score the saved predictions of the ``cases`` that passed the screen; write and return the summary.

        Raises:
            EvaluationError: no case could be evaluated.
        """
        failed = {f["case"] for f in self.failures}
        scored = [
            {
                **case,
                "pred": prediction_path(case["image"], self.prediction_dir, self.prediction_postfix, names=self.output_names),
            }
            for case in cases
            if case.get("case") not in failed
        ]
        return self._finish(scored)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m meddisseg_monai.evaluation.ct``: score saved predictions against a datalist's labels."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datalist", required=True, help="Decathlon-style datalist (image, label per case)")
    parser.add_argument("--dataset_dir", default=".", help="root of the datalist's relative paths")
    parser.add_argument("--key", default="validation", help="datalist key of the cases (validation, testing, ...)")
    parser.add_argument("--predictions", required=True, help="folder of <name>_<postfix>.nii.gz predictions")
    parser.add_argument("--postfix", default="seg")
    parser.add_argument("--label_set", default="btcv13")
    parser.add_argument("--label_source", default=None, help="numbering of the label files (default: label set)")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    entries = load_ct_cases(args.datalist, args.dataset_dir, args.key)
    names = OutputNames([case["image"] for case in entries])
    cases = [
        {**case, "pred": prediction_path(case["image"], args.predictions, args.postfix, names=names)}
        for case in name_cases(entries, names)
    ]
    summary = evaluate_cases(cases, args.output_dir, args.label_set, args.label_source)
    keys = ("num_entries", "num_evaluated", "num_failed", "mean_dice", "mean_hd95_mm")
    print(json.dumps({k: summary[k] for k in keys}))
    return 1 if summary["num_failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
