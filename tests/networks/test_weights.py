from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

import torch
from monai.networks import eval_mode
from monai.networks.nets import ResNet
from parameterized import parameterized

from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1
from meddisseg_monai.networks.weights import (
    WeightsMismatchError,
    convert_reference,
    convert_reference_state_dict,
    detect_layout,
    load_encoder_weights,
    load_reference_checkpoint,
    load_torchvision_resnet50,
    read_state_dict,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "reference_checkpoint_layout.json"


def imagenet_layout_resnet50(seed: int = 0) -> ResNet:
    """A ResNet-50 whose state dict has torchvision's key and shape layout, built independently with MONAI."""
    torch.manual_seed(seed)
    net = ResNet(
        block="bottleneck",
        layers=[3, 4, 6, 3],
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=2,
        n_input_channels=3,
        conv1_t_size=7,
        conv1_t_stride=2,
        bias_downsample=False,
        num_classes=1000,
        shortcut_type="B",
    )
    for module in net.modules():  # non-trivial normalisation statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def reference_state_dict(stage: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the reference repository's checkpoint layout (``stage1`` or ``stage2``)."""
    generator = torch.Generator().manual_seed(seed)
    layout = json.loads(FIXTURE.read_text())[stage]
    return {
        key: torch.randint(0, 5, shape, generator=generator) if key.endswith("num_batches_tracked")
        else torch.rand(shape, generator=generator) + 0.5
        for key, shape in layout.items()
    }


class TestTorchvisionResNet50(unittest.TestCase):
    def test_loaded_encoder_reproduces_the_imagenet_layout_network(self):
        reference = imagenet_layout_resnet50()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "resnet50.pth"
            torch.save(reference.state_dict(), path)
            net = MedDisSeg(feature_channels=32, encoder_weights=path)
        x = torch.rand(1, 3, 64, 64)
        with eval_mode(net), torch.no_grad():
            f1, f2, f3, f4 = net.encoder(x)
            stem = reference.act(reference.bn1(reference.conv1(x)))
            expected_f4 = reference.layer3(reference.layer2(reference.layer1(reference.maxpool(stem))))
        torch.testing.assert_close(f1, stem)
        torch.testing.assert_close(f4, expected_f4)

    def test_single_channel_input_adapts_first_convolution(self):
        state = imagenet_layout_resnet50().state_dict()
        net = MedDisSegStage1(in_channels=1)
        load_torchvision_resnet50(net, state)
        torch.testing.assert_close(net.encoder.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))

    def test_partial_file_lists_what_is_missing(self):
        state = imagenet_layout_resnet50().state_dict()
        del state["layer2.1.conv2.weight"]
        state["layer3.0.bn1.weight"] = torch.ones(7)
        with self.assertRaises(WeightsMismatchError) as raised:
            load_torchvision_resnet50(MedDisSegStage1(), state)
        message = str(raised.exception)
        self.assertIn("layer2.1.conv2.weight", message)
        self.assertIn("layer3.0.bn1.weight", message)

    def test_3d_network_rejects_2d_weights(self):
        with self.assertRaisesRegex(ValueError, "2D"):
            load_torchvision_resnet50(MedDisSegStage1(spatial_dims=3, in_channels=1), imagenet_layout_resnet50().state_dict())


class TestEncoderWeights(unittest.TestCase):
    def test_stage1_checkpoint_initialises_stage2_encoder(self):
        stage1 = MedDisSegStage1()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stage1.pt"
            # as MONAI's CheckpointSaver writes the "last" state: several objects in one dict
            torch.save({"network": stage1.state_dict(), "optimizer": {"state": {}, "param_groups": []}}, path)
            stage2 = MedDisSeg(feature_channels=32, encoder_weights=path)
        for key, value in stage1.encoder.state_dict().items():
            torch.testing.assert_close(stage2.encoder.state_dict()[key], value)

    @parameterized.expand([["missing"], ["not a checkpoint"], ["wrong network"]])
    def test_bad_files_give_clear_errors(self, case):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "weights.pt"
            if case == "missing":
                with self.assertRaises(FileNotFoundError):
                    load_encoder_weights(MedDisSegStage1(), path)
                return
            if case == "not a checkpoint":
                path.write_text("this is not a checkpoint")
                error = ValueError
            else:
                torch.save(torch.nn.Linear(3, 4).state_dict(), path)
                error = WeightsMismatchError
            with self.assertRaises(error) as raised:
                load_encoder_weights(MedDisSegStage1(), path)
            self.assertIn("weights", str(raised.exception).lower() + str(path))

    def test_detect_layout(self):
        self.assertEqual(detect_layout(MedDisSegStage1().state_dict()), "meddisseg")
        self.assertEqual(detect_layout(imagenet_layout_resnet50().state_dict()), "torchvision")
        self.assertEqual(detect_layout(reference_state_dict("stage1")), "reference")
        self.assertEqual(detect_layout({"weight": torch.ones(1)}), "unknown")

    def test_read_state_dict_strips_data_parallel_prefix(self):
        state = {"module." + k: v for k, v in MedDisSegStage1().state_dict().items()}
        self.assertEqual(detect_layout(read_state_dict(state)), "meddisseg")


class TestReferenceCheckpoints(unittest.TestCase):
    @parameterized.expand([["stage1", MedDisSegStage1], ["stage2", MedDisSeg]])
    def test_reference_layout_converts_completely(self, stage, cls):
        state = reference_state_dict(stage)
        net = cls()
        converted = convert_reference_state_dict(state, net)
        self.assertEqual(len(converted), len(state))
        net.load_state_dict(converted, strict=True)
        # every reference tensor lands somewhere, values unchanged (up to the Linear -> 1x1 conv reshape)
        own = net.state_dict()
        reference_sums = sorted(round(float(v.double().sum()), 3) for v in state.values())
        own_sums = sorted(round(float(v.double().sum()), 3) for v in own.values())
        self.assertEqual(reference_sums, own_sums)

    def test_known_keys_map_to_expected_modules(self):
        net = MedDisSeg()
        converted = convert_reference_state_dict(reference_state_dict("stage2"), net)
        state = reference_state_dict("stage2")
        for reference_key, own_key in [
            ("layer0.0.weight", "encoder.conv1.weight"),
            ("layer1.1.0.conv1.weight", "encoder.layer1.0.conv1.weight"),
            ("dconv4.c3.0.conv.0.weight", "enhancements.3.branches.2.0.conv.weight"),
            ("cdfa1.attn_bg.weight", "aggregations.0.attention_bg.weight"),
            ("decoder_middle.cbam.spatial_conv.bias", "decoder_medium.block_attention.spatial.conv.bias"),
            ("output_block.c3.weight", "head.refine.2.weight"),
            ("preprocess_bg1.preprocess.conv_2.conv.1.running_var", "bg_guides.0.layers.6.adn.N.running_var"),
        ]:
            torch.testing.assert_close(converted[own_key], state[reference_key])
        torch.testing.assert_close(
            converted["decoder_small.block_attention.channel.mlp.0.weight"].flatten(),
            state["decoder_small.cbam.channel_mlp.2.weight"].flatten(),
        )

    def test_stage_mismatch_is_reported(self):
        with self.assertRaisesRegex(WeightsMismatchError, "MedDisSegStage1"):
            load_reference_checkpoint(MedDisSegStage1(), reference_state_dict("stage2"))

    def test_unknown_key_is_reported(self):
        state = reference_state_dict("stage1")
        state["llm.adapter.weight"] = torch.ones(2)
        with self.assertRaisesRegex(WeightsMismatchError, "llm.adapter.weight"):
            load_reference_checkpoint(MedDisSegStage1(), state)

    def test_stage1_reference_encoder_initialises_stage2(self):
        state = reference_state_dict("stage1")
        net = MedDisSeg(feature_channels=32)
        self.assertEqual(load_encoder_weights(net, state), "reference")
        torch.testing.assert_close(net.encoder.conv1.weight, state["layer0.0.weight"])

    def test_command_line_converter_writes_a_loadable_state_dict(self):
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "checkpoint1.pth", Path(tmp) / "out" / "model.pt"
            torch.save(reference_state_dict("stage1"), source)
            convert_reference(str(source), str(target), stage=1)
            MedDisSegStage1().load_state_dict(torch.load(target, weights_only=True), strict=True)


if __name__ == "__main__":
    unittest.main()
