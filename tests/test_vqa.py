"""Closed-set VQA: questions from the phantom's ground truth, the VQA-RAD and SLAKE readers on fixtures written in
their official layouts, and `cxrvlp evaluate vqa` on tiny checkpoints (fused features for MPMA, image + question
embeddings for a dual encoder)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp.cli import main
from cxrvlp.data.adapters import load_studies
from cxrvlp.data.skips import SkipLog
from cxrvlp.recipe import load_recipe
from cxrvlp.training.task import PretrainTask
from cxrvlp.vqa import phantom_questions, read_slake, read_vqa_rad


def test_phantom_questions_follow_the_ground_truth(tiny_phantom):
    studies, _ = load_studies("phantom", tiny_phantom, ("train", "test"))
    questions = phantom_questions(studies)
    assert questions == phantom_questions(studies)  # deterministic
    assert {q.kind for q in questions} >= {"presence", "device"}
    assert {q.split for q in questions} == {"train", "test"}
    for s in studies:
        truth = {f["name"]: f for f in s.meta["ground_truth"]["findings"]}
        mine = [q for q in questions if q.study_id == s.study_id]
        for q in mine:
            if q.kind == "presence":
                assert (q.answer == "yes") == any(q.question.endswith(f"{n}?") for n in _phrases(truth))
            if q.kind == "side":
                assert q.answer in ("left", "right", "bilateral")
        assert sum(q.answer == "yes" for q in mine if q.kind == "presence") == len(truth)


def _phrases(truth):
    from cxrvlp.vqa.phantom_questions import NAMES

    return [NAMES[n].split(" ", 1)[-1] if NAMES[n].startswith(("a ", "an ")) else NAMES[n] for n in truth]


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8)).save(path)


def test_vqa_rad_reader(tmp_path):
    folder = tmp_path / "VQA_RAD Image Folder"
    _image(folder / "synpic1.jpg")
    entries = [
        {"qid": 1, "image_name": "synpic1.jpg", "question": "Is there a pneumothorax?", "answer": "Yes",
         "answer_type": "CLOSED", "question_type": "PRES", "image_organ": "CHEST", "phrase_type": "freeform"},
        {"qid": 2, "image_name": "synpic1.jpg", "question": "What is abnormal?", "answer": "effusion",
         "answer_type": "OPEN", "question_type": "ABN", "image_organ": "CHEST", "phrase_type": "freeform"},
        {"qid": 3, "image_name": "synpic2.jpg", "question": "Is this a CT?", "answer": "no",
         "answer_type": "CLOSED", "question_type": "MODALITY", "image_organ": "HEAD", "phrase_type": "test_para"},
        {"qid": 4, "image_name": "gone.jpg", "question": "Is the heart enlarged?", "answer": "no",
         "answer_type": "CLOSED", "question_type": "SIZE", "image_organ": "CHEST", "phrase_type": "test_freeform"}]
    (tmp_path / "VQA_RAD Dataset Public.json").write_text(json.dumps(entries))
    skips = SkipLog()
    qs = read_vqa_rad(tmp_path, skips)
    assert [(q.answer, q.kind, q.split) for q in qs] == [("yes", "pres", "train")]
    assert skips.counts == {"open question": 1, "not a chest image": 1, "missing image file": 1}
    (tmp_path / "VQA_RAD Dataset Public.json").write_text('[{"image_name": "x"}')
    with pytest.raises(ValueError, match="line 1: not valid JSON"):
        read_vqa_rad(tmp_path)


def test_slake_reader(tmp_path):
    _image(tmp_path / "imgs" / "xmlab1" / "source.jpg")
    base = {"img_name": "xmlab1/source.jpg", "modality": "X-Ray", "location": "Chest", "answer_type": "CLOSED",
            "content_type": "Abnormality", "q_lang": "en"}
    (tmp_path / "train.json").write_text(json.dumps([
        {**base, "qid": 1, "question": "Is the lung healthy?", "answer": "No"},
        {**base, "qid": 2, "question": "肺健康吗?", "answer": "否", "q_lang": "zh"},
        {**base, "qid": 3, "question": "Which organ?", "answer": "Lung", "answer_type": "OPEN"}]))
    (tmp_path / "test.json").write_text(json.dumps([
        {**base, "qid": 4, "question": "Does the picture contain lung?", "answer": "Yes"},
        {**base, "qid": 5, "question": "Is this a CT?", "answer": "No", "modality": "CT", "location": "Abdomen"}]))
    skips = SkipLog()
    qs = read_slake(tmp_path, skips)
    assert [(q.answer, q.split) for q in qs] == [("no", "train"), ("yes", "test")]
    assert skips.counts == {"other language": 1, "open question": 1, "not a chest radiograph": 1}
    (tmp_path / "test.json").write_text(json.dumps([{"question": "x"}]))
    with pytest.raises(KeyError, match="test.json: entry 0 has no field 'answer_type'"):
        read_slake(tmp_path)


@pytest.mark.parametrize("recipe", ["mpma-tiny", "convirt-tiny"])
def test_evaluate_vqa_on_the_phantom(recipe, tiny_phantom, tmp_path):
    config = load_recipe(recipe, [f"data.root={tiny_phantom}"]).to_dict()
    torch.manual_seed(0)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"hyper_parameters": {"config": config}, "state_dict": PretrainTask(config).state_dict()}, ckpt)
    out = tmp_path / "vqa"
    assert main(["evaluate", "vqa", str(ckpt), "--out", str(out), "--epochs", "2", "--limit", "300",
                 "--no-progress"]) == 0
    results = json.loads((out / "metrics.json").read_text())
    v = results["vqa"]
    assert 0 <= v["accuracy"] <= 1 and v["per_type"]["presence"]["n"] > 0
    assert results["protocol"]["features"] == ("fused [CLS]" if recipe == "mpma-tiny" else
                                               "[image embedding; question embedding]")
    assert "| **all** |" in (out / "results.md").read_text()
