"""ResNet-50 encoder (stem and layer1..layer3) for 2D and 3D inputs, with torchvision-compatible parameter names."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv, Pool
from monai.networks.layers.utils import get_norm_layer
from monai.networks.nets.resnet import ResNetBottleneck
from torch import nn

__all__ = ["ResNet50Encoder"]


class ResNet50Encoder(nn.Module):
    """The first four stages of ResNet-50: f1 (64 channels, 1/2), f2 (256, 1/4), f3 (512, 1/8), f4 (1024, 1/16).

    ``layer4`` is not built (Med-DisSeg does not use it). Parameter names equal torchvision's ``resnet50`` names
    (``conv1``, ``bn1``, ``layer1.0.conv1`` ...) and its initialisation is torchvision's (:meth:`reset_parameters`),
    so an ImageNet state dict loads with
    :func:`meddisseg_monai.networks.weights.load_torchvision_resnet50`.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        in_channels: input channels.
        norm: normalisation layer (batch norm for ImageNet weights).
    """

    #: channels of f1..f4
    out_channels = (64, 256, 512, 1024)
    #: down-sampling factor of f1..f4
    reductions = (2, 4, 8, 16)

    def __init__(self, spatial_dims: int = 2, in_channels: int = 3, norm: str | tuple = "batch") -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.conv1 = conv(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = get_norm_layer(norm, spatial_dims=spatial_dims, channels=64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = Pool[Pool.MAX, spatial_dims](kernel_size=3, stride=2, padding=1)
        self.in_planes = 64
        self.layer1 = self._make_layer(spatial_dims, 64, 3, 1, norm)
        self.layer2 = self._make_layer(spatial_dims, 128, 4, 2, norm)
        self.layer3 = self._make_layer(spatial_dims, 256, 6, 2, norm)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's (torchvision's) ResNet initialisation: convolutions kaiming-normal with ``fan_out`` and
        ReLU gain, normalisation layers weight 1 and bias 0. Loaded weights (ImageNet, Stage I) replace it."""
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm)) and module.affine:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(self, spatial_dims: int, planes: int, blocks: int, stride: int, norm: str | tuple) -> nn.Sequential:
        out_planes = planes * ResNetBottleneck.expansion
        downsample = nn.Sequential(
            Conv[Conv.CONV, spatial_dims](self.in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
            get_norm_layer(norm, spatial_dims=spatial_dims, channels=out_planes),
        )
        layers = [ResNetBottleneck(self.in_planes, planes, spatial_dims, stride, downsample, norm=norm)]
        self.in_planes = out_planes
        layers += [ResNetBottleneck(out_planes, planes, spatial_dims, norm=norm) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f1 = self.relu(self.bn1(self.conv1(x)))
        f2 = self.layer1(self.maxpool(f1))
        f3 = self.layer2(f2)
        f4 = self.layer3(f3)
        return [f1, f2, f3, f4]
