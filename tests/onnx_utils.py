"""What the ONNX tests and benchmarks share: the documented converter arguments and a random network whose logits are
centred on the inputs (so that an exporter error would flip mask pixels)."""

from __future__ import annotations

import torch
from monai.bundle import ConfigParser
from torch import nn

__all__ = ["CONVERTER_KWARGS", "centred_network"]

#: the converter arguments of ``python -m monai.bundle onnx_export`` documented in both bundles' docs/README.md
CONVERTER_KWARGS = {
    "dynamo": False,
    "opset_version": 17,
    "input_names": ["image"],
    "output_names": ["pred"],
    "dynamic_axes": {"image": {0: "batch"}, "pred": {0: "batch"}},
}


def centred_network(parser: ConfigParser, x: torch.Tensor) -> nn.Module:
    """``network_def`` of the bundle, random init (seed 0), output bias moved so that each class's logits are centred
    on ``x`` (median 0 for one sigmoid channel; mean 0 per class for softmax)."""
    torch.manual_seed(0)
    network = parser.get_parsed_content("network_def").eval()
    last = [m for m in network.head.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))][-1]
    with torch.no_grad():
        logits = network(x)
        flat = logits.transpose(0, 1).reshape(logits.shape[1], -1)
        centre = flat.median(dim=1).values if logits.shape[1] == 1 else flat.mean(dim=1)
        last.bias -= centre
    return network
