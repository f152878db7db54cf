"""The five 2D datasets of the Med-DisSeg paper: where they live, how their masks are binarised, which datalist."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DatasetSpec", "DATASETS", "get_dataset"]


@dataclass(frozen=True)
class DatasetSpec:
    """What the bundle needs to know about one dataset.

    Attributes:
        name: identifier used by ``--dataset`` (``kvasir_seg``, ...).
        title: the dataset's own name.
        folder: its folder under the data root, in the dataset's release layout.
        datalist: file name of its default datalist in ``data_lists/``.
        mask_threshold: mask values strictly above it are foreground (see ``BinarizeMask``).
        target: what the foreground is.
        splits: the split sizes of the paper's protocol.
    """

    name: str
    title: str
    folder: str
    datalist: str
    mask_threshold: float
    target: str
    splits: str


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("kvasir_seg", "Kvasir-SEG", "Kvasir-SEG", "kvasir_seg.json", 127, "polyp", "880 train / 120 test"),
        # the sessile subset's release (sessile-main-Kvasir-SEG) has the same images/ masks/ layout as Kvasir-SEG
        DatasetSpec(
            "kvasir_sessile",
            "Kvasir-Sessile",
            "Kvasir-SEG",
            "kvasir_sessile.json",
            127,
            "sessile polyp",
            "156 train / 20 validation / 20 test",
        ),
        DatasetSpec("glas", "GlaS", "GlaS", "glas.json", 0, "colon gland", "85 train / 80 test"),
        DatasetSpec("isic2016", "ISIC-2016", "ISIC-2016", "isic2016.json", 127, "skin lesion", "900 train / 379 test"),
        DatasetSpec(
            "isic2017",
            "ISIC-2017",
            "ISIC-2017",
            "isic2017.json",
            127,
            "skin lesion",
            "2000 train / 150 validation / 600 test",
        ),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    key = str(name).lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    return DATASETS[key]
