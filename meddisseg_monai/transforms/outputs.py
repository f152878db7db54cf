"""Network outputs in post-processing: the main prediction out of a train-mode output dict."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from monai.config import KeysCollection
from monai.transforms import MapTransform

__all__ = ["MainOutputd"]


class MainOutputd(MapTransform):
    """Replace a network's output dict (Med-DisSeg in train mode with ``auxiliary_outputs=True``: logits, auxiliary
    maps, encoder features) by its main prediction, so that post-transforms and metrics see one tensor. A tensor is
    left as it is (the network in eval mode, or built without the flag).

    Args:
        keys: the output key(s), usually ``"pred"``.
        output_key: the key of the main prediction inside the dict.
        allow_missing_keys: as for every ``MapTransform``.

    Raises:
        KeyError: a dict without ``output_key``.
    """

    def __init__(
        self, keys: KeysCollection = "pred", output_key: str = "pred", allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_key = output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if isinstance(value, Mapping):
                if self.output_key not in value:
                    raise KeyError(f"MainOutputd: {key!r} is a dict without {self.output_key!r} (keys {list(value)}).")
                d[key] = value[self.output_key]
        return d
