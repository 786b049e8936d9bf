"""`cxrvlp evaluate detect`: mAP over IoU 0.4-0.75, boxes mapped into the evaluated crop, an FCOS head that reaches
the maximum on features that see the phantom's boxes and chance on noise, and end-to-end runs on the phantom and on
the COVID lung boxes."""
import json

import pytest
import torch

from _eval_helpers import one_torch_thread  # noqa: F401  (autouse fixture)
from cxrvlp.cli import main
from cxrvlp.data.study import Box, ImageRecord
from cxrvlp.data.transforms import Preprocess
from cxrvlp.evaluation import head_training as ht
from cxrvlp.evaluation.data import crop_boxes, evaluated_image, load_eval_data
from cxrvlp.evaluation.detection import IOU_THRESHOLDS, PyramidFCOS, mean_average_precision

SIZE = 64


def test_map_is_one_for_the_truth_and_zero_for_misplaced_boxes():
    truth = [{"boxes": torch.tensor([[10.0, 10, 30, 40], [35, 5, 60, 25]]), "labels": torch.tensor([0, 1])}]
    exact = [{**truth[0], "scores": torch.tensor([0.9, 0.8])}]
    assert mean_average_precision(exact, truth)["map"] == pytest.approx(1.0)
    # shifted 8 px down: IoU 440 / 760 = 0.58, a hit at 0.40, 0.45, 0.50, 0.55 only: 4 of the 8 thresholds
    shifted = [{"boxes": torch.tensor([[10.0, 18, 30, 48]]), "scores": torch.tensor([1.0]),
                "labels": torch.tensor([0])}]
    one = [{"boxes": truth[0]["boxes"][:1], "labels": truth[0]["labels"][:1]}]
    assert mean_average_precision(shifted, one)["map"] == pytest.approx(4 / 8, abs=0.02)
    assert IOU_THRESHOLDS[0] == 0.4 and IOU_THRESHOLDS[-1] == 0.75 and len(IOU_THRESHOLDS) == 8
    elsewhere = [{"boxes": torch.tensor([[0.0, 50, 8, 60]]), "scores": torch.tensor([1.0]),
                  "labels": torch.tensor([0])}]
    assert mean_average_precision(elsewhere, one)["map"] == 0.0


def test_boxes_follow_resize_pad_and_crop(tmp_path):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("L", (80, 40)).save(path)  # 2:1, padded by 10 px above and below at resize 40
    record = ImageRecord(path, "PA", boxes=[Box("a", 40, 10, 60, 20), Box("b", 0, 0, 80, 40), Box("c", 0, 0, 4, 4)])
    out = crop_boxes(record, Preprocess(resize=40, crop=32), ("a", "b"))
    # scale 0.5 -> a: (20, 15, 30, 20), b: (0, 10, 40, 30); crop offset 4, clipped to [0, 32]
    assert out["boxes"].tolist() == [[16.0, 11.0, 26.0, 16.0], [0.0, 6.0, 32.0, 26.0]]
    assert out["labels"].tolist() == [0, 1]


def _largest_finding_boxes(root):
    """Per frontal phantom image with a visible finding: its largest finding box as one class."""
    data = load_eval_data("phantom", root)
    pre = Preprocess(resize=SIZE, crop=SIZE, augment=False)
    out = []
    for split in ("train", "validate", "test"):
        for s in data.splits[split]:
            record = evaluated_image(s)
            if record.boxes:
                biggest = max(record.boxes, key=lambda b: (b.x1 - b.x0) * (b.y1 - b.y0))
                t = crop_boxes(ImageRecord(record.path, "PA", boxes=[Box("finding", biggest.x0, biggest.y0,
                                                                         biggest.x1, biggest.y1)]), pre, ("finding",))
                if len(t["boxes"]):
                    out.append(t)
    return out


def _oracle_map(targets, stride):
    """Channels that see the truth: inside the box, and the distances to its four edges (/ image size)."""
    n = SIZE // stride
    c = (torch.arange(n) + 0.5) * stride
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    maps = []
    for t in targets:
        x0, y0, x1, y1 = t["boxes"][0]
        d = torch.stack([xs - x0, ys - y0, x1 - xs, y1 - ys])
        inside = (d > 0).all(0).float()
        maps.append(torch.cat([inside[None], inside * d / SIZE]))
    return torch.stack(maps)


def _fit_and_score(maps, targets, steps=100):
    n = len(targets)
    train = [i for i in range(n) if i % 4]
    test = [i for i in range(n) if i % 4 == 0]
    torch.manual_seed(0)
    head = PyramidFCOS([m.shape[1] for m in maps], [4, 8, 16, 32], 1, SIZE, fpn_channels=32)
    ht.train(head, ht.FeatureSource([m[train] for m in maps], "pyramid"), len(train),
             lambda h, f, idx: sum(h(f, [targets[train[i]] for i in idx.tolist()]).values()), steps, 12, 3e-3,
             progress=False)
    with torch.no_grad():
        preds = head([m[test] for m in maps])
    return mean_average_precision(preds, [targets[i] for i in test])["map"]


def test_fcos_reaches_the_maximum_on_features_that_see_the_boxes_and_chance_on_noise(tiny_phantom):
    targets = _largest_finding_boxes(tiny_phantom)
    assert len(targets) >= 12
    oracle = [_oracle_map(targets, s) for s in (4, 8, 16, 32)]
    seen = _fit_and_score(oracle, targets)
    blind = _fit_and_score([torch.randn_like(m) for m in oracle], targets)
    assert seen > 0.8
    assert blind < 0.25


def _detect(tmp_path, *extra):
    out = tmp_path / "det"
    assert main(["evaluate", "detect", "random", "--encoder", "test_resnet", "--image-size", str(SIZE), "--out",
                 str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress", *extra]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_phantom_end_to_end(tiny_phantom, tmp_path):
    out, res = _detect(tmp_path, "--adapter", "phantom", "--data-root", str(tiny_phantom), "--fractions", "50,100",
                       "--max-steps", "3", "--seeds", "0,1")
    p = res["protocol"]
    assert p["missing_annotation"] == "empty" and "pleural_effusion" in p["classes"]
    assert p["images_without_annotation"] == {}  # complete ground truth: an image without boxes is a negative
    assert [(r["fraction"], r["seed"]) for r in res["runs"]] == [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    assert all(0.0 <= r["map"] <= 1.0 for r in res["runs"])
    assert {r["fraction"]: r["n"] for r in res["summary"]} == {"50%": 2, "100%": 2}
    assert (out / "detection_overlays.png").stat().st_size > 0


@pytest.mark.shared_data
def test_covid_lung_boxes(shared_data, tmp_path):
    out, res = _detect(tmp_path, "--adapter", "covid_cxr_notes", "--data-root", str(shared_data / "covid_cxr_notes"),
                       "--limit", "40", "--fractions", "100", "--max-steps", "5")
    p = res["protocol"]
    assert p["classes"] == ["Left Lung", "Right Lung"] and p["missing_annotation"] == "skip"
    assert p["images_without_annotation"]["train"] > 0  # images without lung boxes are counted, not used
    assert set(res["runs"][0]["map_per_class"]) <= {"Left Lung", "Right Lung"}
