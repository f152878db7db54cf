from __future__ import annotations

import json
import subprocess
import sys
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
        key: torch.randint(0, 5, shape, generator=generator)
        if key.endswith("num_batches_tracked")
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
            load_torchvision_resnet50(
                MedDisSegStage1(spatial_dims=3, in_channels=1), imagenet_layout_resnet50().state_dict()
            )


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
        # the reference reads BGR: the first convolution's input channels are reversed for RGB input
        torch.testing.assert_close(converted["encoder.conv1.weight"], state["layer0.0.weight"].flip(1))
        for reference_key, own_key in [
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
        torch.testing.assert_close(net.encoder.conv1.weight, state["layer0.0.weight"].flip(1))

    def test_command_line_converter_writes_a_loadable_state_dict(self):
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "checkpoint1.pth", Path(tmp) / "out" / "model.pt"
            torch.save(reference_state_dict("stage1"), source)
            convert_reference(str(source), str(target), stage=1)
            MedDisSegStage1().load_state_dict(torch.load(target, weights_only=True), strict=True)

    def test_documented_command_runs(self):
        """``python -m meddisseg_monai.networks.weights convert_reference ...`` (README, 2D bundle docs)."""
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "checkpoint1.pth", Path(tmp) / "model.pt"
            torch.save(reference_state_dict("stage1"), source)
            command = [sys.executable, "-m", "meddisseg_monai.networks.weights", "convert_reference"]
            result = subprocess.run(
                [*command, str(source), str(target), "--stage", "1"], capture_output=True, text=True, timeout=600
            )
            self.assertEqual(result.returncode, 0, result.stderr[-2000:])
            self.assertIn(f"-> {target}", result.stdout)
            MedDisSegStage1().load_state_dict(torch.load(target, weights_only=True), strict=True)


class TestReferenceColourOrder(unittest.TestCase):
    """The reference trains on OpenCV's BGR images; converted weights take RGB and compute the same."""

    def test_rgb_input_gives_the_reference_stem_output_on_bgr(self):
        state = reference_state_dict("stage1")
        net = MedDisSegStage1()
        load_reference_checkpoint(net, state)
        x_rgb = torch.rand(2, 3, 32, 32)
        expected = torch.nn.functional.conv2d(x_rgb.flip(1), state["layer0.0.weight"], stride=2, padding=3)
        torch.testing.assert_close(net.encoder.conv1(x_rgb), expected)

    @parameterized.expand([["bgr", True], ["rgb", False]])
    def test_channel_order_option(self, order, reversed_):
        state = reference_state_dict("stage1")
        converted = convert_reference_state_dict(state, MedDisSegStage1(), channel_order=order)
        expected = state["layer0.0.weight"].flip(1) if reversed_ else state["layer0.0.weight"]
        torch.testing.assert_close(converted["encoder.conv1.weight"], expected)

    def test_unknown_channel_order_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "channel_order"):
            convert_reference_state_dict(reference_state_dict("stage1"), MedDisSegStage1(), channel_order="hsv")


def _truncate_bytes(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_head_keys(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("head.")}, path)


class TestBadReferenceCheckpoints(unittest.TestCase):
    """Wrong stage or truncated file: an error naming the file and what did not match; nothing half-loaded."""

    @parameterized.expand(
        [
            # name, stage written, network, corruption, error, texts the message must contain
            ["stage2_into_stage1", "stage2", MedDisSegStage1, None, WeightsMismatchError,
             ["not in the network", "missing from the file", "aggregations.", "head.attentions."]],
            ["stage1_into_stage2", "stage1", MedDisSeg, None, WeightsMismatchError,
             ["missing from the file", "aggregations.", "not in the network", "head."]],
            ["truncated_file", "stage1", MedDisSegStage1, _truncate_bytes, ValueError,
             ["not a readable PyTorch weights file"]],
            ["truncated_state_dict", "stage1", MedDisSegStage1, _drop_head_keys, WeightsMismatchError,
             ["missing from the file", "head."]],
        ]
    )  # fmt: skip
    def test_error_names_file_and_nothing_is_loaded(self, _, stage, cls, corrupt, error, texts):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "checkpoint_bad.pth"
            torch.save(reference_state_dict(stage), path)
            if corrupt is not None:
                corrupt(path)
            net = cls()
            before = {k: v.clone() for k, v in net.state_dict().items()}
            with self.assertRaises(error) as raised:
                load_reference_checkpoint(net, path)
            message = str(raised.exception)
            self.assertIn(str(path), message)
            for text in texts:
                self.assertIn(text, message)
            for key, value in net.state_dict().items():
                self.assertTrue(torch.equal(value, before[key]), f"{key} changed by a failed load")

    def test_wrong_stage_on_the_command_line_names_the_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "checkpoint2.pth", Path(tmp) / "out" / "model.pt"
            torch.save(reference_state_dict("stage2"), source)
            with self.assertRaisesRegex(WeightsMismatchError, "checkpoint2.pth"):
                convert_reference(str(source), str(target), stage=1)
            self.assertFalse(target.exists())


if __name__ == "__main__":
    unittest.main()
