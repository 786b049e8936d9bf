"""Batch targets are drawn in the collate from each item's seed: the same (seed, epoch, index) gives the same
targets whatever the batch, the number of loader workers or processes; a new epoch draws anew; validation does not."""
import pytest
import torch
from torch.utils.data import DataLoader

from cxrvlp.data.sampler import SeededSampler
from cxrvlp.data.targets import TargetContext, build_targets, list_targets
from cxrvlp.encoders import build_text_encoder
from cxrvlp.recipe import load_recipe
from cxrvlp.text.masking import IGNORE_INDEX
from cxrvlp.text.tokenize import Tokenize
from cxrvlp.training.datamodule import StudyDataModule


@pytest.fixture(scope="module")
def datamodule(tiny_phantom):
    cfg = load_recipe("fl-tiny", [f"data.root={tiny_phantom}"])
    tokenizer = build_text_encoder(cfg.text_encoder).tokenizer
    dm = StudyDataModule(cfg.data, Tokenize(tokenizer), mean=0.5, std=0.5, seed=3, max_length=48)
    dm.setup()
    return dm


def _masks_by_study(loader) -> dict:
    out = {}
    for batch in loader:
        for i, sid in enumerate(batch["study_id"]):
            n = int(batch["attention_mask"][i].sum())
            out[sid] = (batch["mlm_input_ids"][i, :n].clone(), batch["mlm_labels"][i, :n].clone())
    return out


def _loader(dm, split, epoch, workers=0, batch_size=8, shuffle=True):
    sampler = SeededSampler(len(dm.datasets[split]), dm.seed, shuffle)
    sampler.set_epoch(epoch)
    return DataLoader(dm.datasets[split], batch_size=batch_size, sampler=sampler, collate_fn=dm.collate,
                      num_workers=workers, multiprocessing_context="spawn" if workers else None)


def test_targets_do_not_depend_on_workers_batching_or_processes(datamodule):
    ref = _masks_by_study(_loader(datamodule, "train", epoch=1))
    spawned = _masks_by_study(_loader(datamodule, "train", epoch=1, workers=2, batch_size=5))
    assert ref.keys() == spawned.keys() and len(ref) == len(datamodule.datasets["train"])
    for sid, (ids, labels) in ref.items():
        assert torch.equal(spawned[sid][0], ids) and torch.equal(spawned[sid][1], labels), sid
    # two processes: each rank draws its share with the seeds a single process gives those items
    single = dict(SeededSampler(10, seed=3))
    for rank in range(2):
        sampler = SeededSampler(10, seed=3)
        sampler._shard = lambda rank=rank: (2, rank)
        assert all(single[i] == seed for i, seed in sampler)


def test_a_new_epoch_draws_anew_but_validation_keeps_its_masks(datamodule):
    first, second = (_masks_by_study(_loader(datamodule, "train", e)) for e in (0, 1))
    assert any(not torch.equal(first[s][1], second[s][1]) for s in first)
    val = [_masks_by_study(_loader(datamodule, "validate", e, shuffle=False)) for e in (0, 5)]
    assert all(torch.equal(val[0][s][1], val[1][s][1]) for s in val[0])


def test_masked_positions_are_real_words_with_their_ids_as_labels(datamodule):
    batch = next(iter(_loader(datamodule, "train", 0)))
    masked = batch["mlm_labels"] != IGNORE_INDEX
    assert masked.any()
    assert (batch["attention_mask"][masked] == 1).all() and (batch["mlm_labels"][masked] ==
                                                             batch["input_ids"][masked]).all()
    assert (batch["mlm_input_ids"][~masked] == batch["input_ids"][~masked]).all()
    assert not masked[:, 0].any()  # [CLS]


def test_unknown_targets_and_options_are_errors():
    assert "pathology_masking" in list_targets()
    tokenizer = build_text_encoder({"name": "tiny_bert"}).tokenizer
    with pytest.raises(KeyError, match="unknown batch target"):
        build_targets(["nope"], TargetContext(tokenizer))
    with pytest.raises(KeyError, match="pathology_masking"):
        build_targets([{"name": "pathology_masking", "pathologie": 0.5}], TargetContext(tokenizer))
