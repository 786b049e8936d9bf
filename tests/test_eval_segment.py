"""`cxrvlp evaluate segment`: Dice/IoU with MGCA's empty-mask convention, masks mapped into the evaluated crop, a
U-Net decoder that reaches the maximum on features that see the truth and not on noise, and end-to-end runs on the
phantom (ResNet and ViT, frozen and fine-tuned) and on JSRT, Montgomery and Shenzhen."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _eval_helpers import one_torch_thread  # noqa: F401  (autouse fixture)
from cxrvlp.cli import main
from cxrvlp.data.adapters import PHANTOM_FINDINGS
from cxrvlp.data.transforms import Preprocess
from cxrvlp.evaluation import head_training as ht
from cxrvlp.evaluation.data import crop_masks, load_eval_data
from cxrvlp.evaluation.segmentation import UNetDecoder, dice_iou, segmentation_loss


def test_dice_iou_per_image_with_empty_mask_convention():
    truth = torch.zeros(4, 1, 4, 4, dtype=torch.bool)
    pred = torch.zeros_like(truth)
    truth[0, 0, :2] = True  # 8 px; prediction covers 4 of them + 4 outside
    pred[0, 0, 1:3] = True
    pred[1, 0, 0, 0] = True  # empty truth, something predicted -> 0
    truth[3, 0] = True  # full truth, predicted exactly -> 1
    pred[3, 0] = True
    dice, iou = dice_iou(pred, truth)
    assert dice[:, 0].tolist() == pytest.approx([0.5, 0.0, 1.0, 1.0])  # image 2: both empty -> 1
    assert iou[:, 0].tolist() == pytest.approx([1 / 3, 0.0, 1.0, 1.0])


def _phantom_positives(root, size=64):
    """``[N, 1, S, S]``: the union of the visible findings' masks on each frontal phantom image that has one."""
    data = load_eval_data("phantom", root)
    pre = Preprocess(resize=size, crop=size, augment=False)
    masks = [crop_masks(s, pre, PHANTOM_FINDINGS, "empty").any(0, keepdim=True)
             for split in ("train", "validate", "test") for s in data.splits[split]]
    return torch.stack([m for m in masks if m.any()])


def _fit_and_score(maps, truth, steps=150):
    n = len(truth)
    train, test = torch.arange(n) % 4 != 0, torch.arange(n) % 4 == 0
    torch.manual_seed(0)
    head = UNetDecoder([m.shape[1] for m in maps], [4, 8, 16, 32], truth.shape[1], truth.shape[-1], (16, 16, 16))
    ht.train(head, ht.FeatureSource([m[train] for m in maps], "pyramid"), int(train.sum()),
             lambda h, f, idx: segmentation_loss(h(f), truth[train][idx]), steps, 8, 3e-3, progress=False)
    with torch.no_grad():
        pred = head([m[test] for m in maps]).sigmoid() > 0.5
    return dice_iou(pred, truth[test])[0].mean().item()


def test_decoder_reaches_the_maximum_on_features_that_see_the_truth_and_not_on_noise(tiny_phantom):
    truth = _phantom_positives(tiny_phantom)
    assert len(truth) >= 8
    oracle = [F.avg_pool2d(truth.float(), s) for s in (4, 8, 16, 32)]
    noise = [torch.randn_like(m) for m in oracle]
    seen, blind = _fit_and_score(oracle, truth), _fit_and_score(noise, truth)
    assert seen > 0.85
    assert blind < seen - 0.25


def test_masks_follow_resize_pad_and_crop():
    class Study:
        meta = {"mask_values": {"scr": {"heart": 3}}}

    import tempfile
    from pathlib import Path

    from PIL import Image

    from cxrvlp.data.study import ImageRecord

    with tempfile.TemporaryDirectory() as d:
        img, mask = Path(d) / "i.png", Path(d) / "m.png"
        Image.fromarray(np.zeros((40, 80), np.uint8)).save(img)  # wide image: padded above and below
        label_map = np.zeros((40, 80), np.uint8)
        label_map[10:20, 40:60] = 3
        Image.fromarray(label_map).save(mask)
        study = Study()
        study.frontal = [ImageRecord(img, "PA", masks={"scr": mask})]
        m = crop_masks(study, Preprocess(resize=40, crop=40), ("heart",))[0]
    ys, xs = np.nonzero(m.numpy())
    # scale 0.5, 10 px padding on top: rows 10+5..10+10, columns 20..30
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (15, 19, 20, 29)


def _segment(tmp_path, *extra):
    out = tmp_path / "seg"
    assert main(["evaluate", "segment", "random", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--no-progress", *extra]) == 0
    return out, json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("encoder,size,extra", [("test_resnet", "64", ()), ("test_vit", "160", ("--limit", "6")),
                                                ("test_efficientnet", "64", ("--finetune", "--limit", "8"))])
def test_phantom_end_to_end(tiny_phantom, tmp_path, encoder, size, extra):
    out, res = _segment(tmp_path, "--encoder", encoder, "--image-size", size, "--adapter", "phantom",
                        "--data-root", str(tiny_phantom), "--classes", "pleural_effusion,support_devices",
                        "--fractions", "50,100", "--max-steps", "3", *extra)
    p = res["protocol"]
    assert p["missing_annotation"] == "empty" and p["classes"] == ["pleural_effusion", "support_devices"]
    assert p["finetune"] == ("--finetune" in extra)
    assert [r["fraction"] for r in res["runs"]] == [0.5, 1.0]
    assert all(0.0 <= r["dice"] <= 1.0 and 0.0 <= r["iou"] <= r["dice"] + 1e-6 for r in res["runs"])
    assert (out / "segmentation_overlays.png").stat().st_size > 0
    assert "Dice" in (out / "results.md").read_text()


@pytest.mark.shared_data
@pytest.mark.parametrize("adapter,classes", [("jsrt_lungs", "right_lung,left_lung,heart"),
                                             ("montgomery_lungs", "lung"), ("shenzhen_tb", "lung")])
def test_real_data_segmentation(shared_data, tmp_path, adapter, classes):
    out, res = _segment(tmp_path, "--encoder", "test_resnet", "--image-size", "64", "--adapter", adapter,
                        "--data-root", str(shared_data / adapter), "--classes", classes, "--limit", "10",
                        "--fractions", "100", "--max-steps", "20")
    assert res["protocol"]["classes"] == classes.split(",")
    run = res["runs"][0]
    assert set(run["per_class"]) == set(classes.split(","))
    assert 0.0 <= run["iou"] <= run["dice"] <= 1.0
