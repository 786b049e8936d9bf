from cxrvlp.data.sampler import SeededSampler


def test_order_and_seeds_depend_only_on_seed_and_epoch():
    a, b = SeededSampler(10, seed=3), SeededSampler(10, seed=3)
    a.set_epoch(2), b.set_epoch(2)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(3)
    assert list(a) != first
    assert sorted(i for i, _ in first) == list(range(10))


def test_shards_cover_the_epoch_like_distributed_sampler(monkeypatch):
    s = SeededSampler(7, seed=0)
    full = [i for i, _ in SeededSampler(7, seed=0)]
    parts = []
    for rank in range(2):
        monkeypatch.setattr(s, "_shard", lambda rank=rank: (2, rank))
        parts.append([i for i, _ in s])
    assert len(parts[0]) == len(parts[1]) == 4
    assert set(parts[0]) | set(parts[1]) == set(full)
    assert sorted(parts[0] + parts[1]) == sorted(full + full[:1])  # padded by repetition


def test_unshuffled_is_in_order():
    assert [i for i, _ in SeededSampler(4, seed=1, shuffle=False)] == [0, 1, 2, 3]
    assert all(isinstance(seed, int) and seed >= 0 for _, seed in SeededSampler(4, seed=1))
