"""ShardLoader in one process: plans, bad shards, resume with drops, sizes, https shards."""

from __future__ import annotations

import functools
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
from loader_fixtures import key_of, write_shards

from flamboyance.shards.loader.plan import samples_per_slot, slot_segments
from flamboyance.shards.loader.reader import DropSample, LoaderConfig, ShardLoader, shard_sizes
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples

SIZES = [3, 17, 8, 11, 26]


def test_plan_gives_every_slot_the_same_disjoint_budget() -> None:
    budget = samples_per_slot(sum(SIZES), slots=6, batch_size=4)
    assert budget == 8  # 65 // 6 = 10 -> 2 batches of 4
    pieces = set()
    for slot in range(6):
        segments = slot_segments(SIZES, seed=1, epoch=3, slot=slot, slots=6, budget=budget)
        assert sum(len(segment) for segment in segments) == budget
        for segment in segments:
            pieces |= {(segment.shard, n) for n in range(segment.start, segment.stop)}
    assert len(pieces) == 6 * budget
    resampled = slot_segments(SIZES, seed=1, epoch=0, slot=0, slots=6, budget=40, resample=True)
    assert sum(len(segment) for segment in resampled) == 40
    with pytest.raises(ValueError, match="cannot give"):
        samples_per_slot(5, slots=4, batch_size=2)


def test_every_sample_once_in_shuffled_order(tmp_path: Path) -> None:
    write_shards(tmp_path, SIZES)
    loader = ShardLoader(str(tmp_path / "*.tar"), key_of, list, LoaderConfig(batch_size=5, num_workers=0, shuffle_buffer=10))
    epoch = [key for batch in loader for key in batch]
    assert len(epoch) == len(set(epoch)) == 65 and loader.epoch == 1
    assert epoch != sorted(epoch, key=lambda key: tuple(int(n) for n in key[1:].split("d")))
    again = [key for batch in loader for key in batch]
    assert sorted(again) == sorted(epoch) and again != epoch  # next epoch: same samples, new order


def drop_some(sample: dict, rng) -> str:
    """Drops about a third of the samples, as undecodable images would be."""
    if rng.random() < 0.3:
        raise DropSample("bad_image")
    return sample["__key__"]


def test_resume_with_drops_continues_exactly(tmp_path: Path) -> None:
    paths = write_shards(tmp_path, SIZES)
    Path(paths[2]).write_bytes(b"garbage" * 99)
    config = LoaderConfig(batch_size=3, num_workers=2, shuffle_buffer=4, seed=5)
    uninterrupted = ShardLoader(str(tmp_path / "*.tar"), drop_some, list, config)
    full = list(uninterrupted)

    for stop in range(1, 20, 2):
        first = ShardLoader(str(tmp_path / "*.tar"), drop_some, list, config)
        batches = iter(first)
        before = [next(batches) for _ in range(stop)]
        del batches
        state = json.loads(json.dumps(first.state_dict()))
        second = ShardLoader(str(tmp_path / "*.tar"), drop_some, list, config)
        second.load_state_dict(state)
        assert before + list(second) == full
        assert second.stats.to_json() == uninterrupted.stats.to_json()  # counters survive, none twice
    assert uninterrupted.stats.get("loader/dropped/bad_image") > 0
    assert uninterrupted.stats.get("loader/failed_shards/ReadError") > 0
    assert len(full) == len(second) == 20  # 65 // 2 workers // 3 = 10 batches each


def test_state_from_another_configuration_is_refused(tmp_path: Path) -> None:
    write_shards(tmp_path, SIZES)
    state = ShardLoader(str(tmp_path / "*.tar"), key_of, list, LoaderConfig(batch_size=3, num_workers=0)).state_dict()
    other = ShardLoader(str(tmp_path / "*.tar"), key_of, list, LoaderConfig(batch_size=4, num_workers=0))
    with pytest.raises(ValueError, match="saved for"):
        other.load_state_dict(state)


def test_corrupt_and_short_shards_are_counted_and_batches_stay_equal(tmp_path: Path) -> None:
    paths = write_shards(tmp_path, SIZES)
    Path(paths[1]).write_bytes(b"this is not a tar file" * 100)  # sizes.json still says 17
    data = Path(paths[4]).read_bytes()
    Path(paths[4]).write_bytes(data[: len(data) // 2])  # truncated: 26 promised, 14 there
    config = LoaderConfig(batch_size=4, num_workers=0)
    loaders = [ShardLoader(str(tmp_path / "*.tar"), key_of, list, config, rank=rank, world_size=2) for rank in (0, 1)]
    for loader in loaders:
        batches = list(loader)
        assert len(batches) == len(loader) == 8 and all(len(batch) == 4 for batch in batches)
    stats = Stats.total(loader.stats for loader in loaders)
    assert stats.under("loader/failed_shards").get("ReadError", 0) >= 1
    assert stats.get("loader/missing_samples") >= 17 + 12 and stats.get("loader/wrapped") >= 2


def test_sizes_from_sizes_json_or_counted(tmp_path: Path) -> None:
    with_json = write_shards(tmp_path / "a", [2, 5])
    without = write_shards(tmp_path / "b", [4, 1], sizes_json=False)
    assert shard_sizes(with_json + without) == [2, 5, 4, 1]


def test_non_file_members_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "odd.tar"
    with tarfile.open(path, "w") as archive:
        link = tarfile.TarInfo("../../etc/passwd.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
        for name, payload in [("a.txt", b"x"), ("a.json", b"{}"), ("README", b"no field")]:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    stats = Stats()
    assert list(iter_samples(str(path), stats=stats)) == [{"__key__": "a", "__url__": str(path), "txt": b"x", "json": b"{}"}]
    assert stats.to_json() == {"loader/skipped_members/no_field": 1, "loader/skipped_members/not_a_file": 1}


def test_https_shards_read_like_local_ones(tmp_path: Path) -> None:
    paths = write_shards(tmp_path, SIZES)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = [f"{base}/{Path(path).name}" for path in paths]
        config = LoaderConfig(batch_size=4, num_workers=0, shuffle_buffer=8, seed=2)
        remote = list(ShardLoader(urls, key_of, list, config, rank=1, world_size=2))
        server.shutdown()
    local = list(ShardLoader(str(tmp_path / "*.tar"), key_of, list, config, rank=1, world_size=2))
    assert remote == local and len(remote) == 8


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_s3_shards_read_like_local_ones(tmp_path: Path, s3_server: dict) -> None:
    import boto3

    write_shards(tmp_path, SIZES)
    client = boto3.client("s3")
    client.create_bucket(Bucket="loader-test")
    for path in tmp_path.iterdir():
        client.upload_file(str(path), "loader-test", f"shards/{path.name}")
    config = LoaderConfig(batch_size=4, num_workers=0, shuffle_buffer=8, seed=2)
    remote = ShardLoader("s3://loader-test/shards/*.tar", key_of, list, config, rank=1, world_size=2)
    assert remote.sizes == SIZES  # from the sizes.json in the bucket
    local = ShardLoader(str(tmp_path / "*.tar"), key_of, list, config, rank=1, world_size=2)
    assert list(remote) == list(local)
