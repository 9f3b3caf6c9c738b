"""OpenFlamingo's own MMC4 reader (open-flamingo 2.0.1, ``open_flamingo/train/data.py``) over our MMC4 export.

The wiki pages are built, exported with ``flamboyance export --format mmc4``, and read
by OpenFlamingo's ``preprocess_interleaved`` and ``get_mmc4_dataset`` with a tokenizer
trained here and a random-weight open_clip model's preprocessing (nothing downloaded).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
from pathlib import Path

import open_clip
import pytest
import torch
from interop_fixtures import WIKI_DOCUMENTS, command, openflamingo_data, tiny_open_clip, wiki_build  # noqa: F401
from transformers import PreTrainedTokenizerFast

from flamboyance.flamingo_model.tokens import train_tokenizer
from flamboyance.shards.interop import export_command
from flamboyance.shards.interop.mmc4 import OPENFLAMINGO_MIN_BYTES
from flamboyance.shards.tar_samples import iter_samples

MAX_IMAGES = 6  # OpenFlamingo's --mmc4_max_num_images default
THRESHOLD = 0.24  # a --mmc4_textsim_threshold on MMC4's cosine scale


class OpenFlamingoTokenizer(PreTrainedTokenizerFast):
    """A fast tokenizer that also answers to transformers 4's names for the extra special tokens.

    OpenFlamingo 2.0.1 reads ``additional_special_tokens(_ids)``; transformers 5 calls
    them ``extra_special_tokens`` and has no old name, so without this every document
    fails in ``preprocess_interleaved`` (AttributeError, logged and skipped).
    """

    @property
    def additional_special_tokens(self) -> list[str]:
        return list(self.extra_special_tokens)

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.additional_special_tokens)


@pytest.fixture(scope="module")
def mmc4_export(wiki_build: Path, tmp_path_factory) -> Path:  # noqa: F811
    output = tmp_path_factory.mktemp("mmc4")
    assert command(export_command, ["--format", "mmc4", str(wiki_build), str(output)]) == 0
    return output


@pytest.fixture(scope="module")
def exported(mmc4_export: Path) -> list[dict]:
    return [json.loads(sample["json"]) for sample in iter_samples(str(mmc4_export / "mmc4-00000.tar"))]


@pytest.fixture(scope="module")
def tokenizer(exported: list[dict]) -> PreTrainedTokenizerFast:
    """A BPE trained on the documents, with the tokens OpenFlamingo's factory adds to its LM's tokenizer."""
    tokenizer = train_tokenizer([text for data in exported for text in data["text_list"]], vocab_size=4000)
    tokenizer.__class__ = OpenFlamingoTokenizer
    tokenizer.add_special_tokens({"eos_token": "</s>", "additional_special_tokens": ["<|endofchunk|>", "<image>"]})
    return tokenizer


@pytest.fixture(scope="module")
def image_processor(tmp_path_factory):
    _, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tiny_open_clip(tmp_path_factory.mktemp('clip'))}")
    return preprocess


def preprocess(data_module, data: dict, tokenizer, image_processor):
    return data_module.preprocess_interleaved(
        (json.dumps(data).encode(),), tokenizer, image_processor, sim_threshold=THRESHOLD, min_num_images=1, max_num_images=MAX_IMAGES
    )


@pytest.mark.slow
def test_openflamingo_keeps_most_wiki_documents_with_images_where_the_page_had_them(exported, tokenizer, image_processor, monkeypatch) -> None:
    data_module = openflamingo_data()
    # Every exported document is one OpenFlamingo can use (its coin that drops half the
    # one-image documents set to "keep"): none is lost to the size floor or the threshold.
    monkeypatch.setattr(data_module.random, "random", lambda: 0.99)
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    kept_images = over_cap = 0
    for data in exported:
        images, (input_ids, _) = preprocess(data_module, data, tokenizer, image_processor)
        over_floor = [len(base64.b64decode(info["image_base64"])) >= OPENFLAMINGO_MIN_BYTES for info in data["image_info"]]
        in_window = int((input_ids == image_token).sum())
        assert 1 <= in_window <= min(sum(over_floor), MAX_IMAGES)
        kept_images += in_window
        over_cap += max(0, sum(over_floor) - MAX_IMAGES)
        # Its first image stands before the text block that followed it on the page.
        first = next(info for info, big in zip(data["image_info"], over_floor) if big)
        text = tokenizer.decode(input_ids[0])
        sentence = data["text_list"][first["matched_text_index"]]
        assert re.sub(r"\s+", "", text).find("<image>" + re.sub(r"\s+", "", sentence)[:20]) >= 0
    # 78 images pass the floor; 61 of them fall in the 256-token windows (this tokenizer), at most 6 per document.
    assert len(exported) == 53 and 55 <= kept_images <= 78

    # With OpenFlamingo's own coin (seeded), it keeps 30 or more of the 85 wiki documents.
    monkeypatch.undo()
    random.seed(0)
    kept = coin_images = 0
    for data in exported:
        try:
            _, (input_ids, _) = preprocess(data_module, data, tokenizer, image_processor)
        except ValueError as error:
            assert str(error) == "Only one image in sample"
            continue
        kept += 1
        coin_images += int((input_ids == image_token).sum())
    assert 30 <= kept < len(exported) <= WIKI_DOCUMENTS
    print(f"OpenFlamingo: {len(exported)} of {WIKI_DOCUMENTS} documents exported, all usable, with {kept_images} images in their 256-token windows "
          f"({over_cap} over floor beyond the {MAX_IMAGES}-image cap); its coin (seed 0) keeps {kept} documents with {coin_images} images")


@pytest.mark.slow
def test_get_mmc4_dataset_delivers_batches_and_ends(mmc4_export: Path, tokenizer, image_processor) -> None:
    data_module = openflamingo_data()
    args = argparse.Namespace(
        mmc4_shards=str(mmc4_export / "mmc4-00000.tar"),
        dataset_resampled=False,
        train_num_samples_mmc4=8,
        batch_size_mmc4=2,
        mmc4_textsim_threshold=THRESHOLD,
        mmc4_min_num_images=1,
        mmc4_max_num_images=MAX_IMAGES,
        seed=0,
        workers=1,
        world_size=1,
    )
    info = data_module.get_mmc4_dataset(args, image_processor, tokenizer)
    batches = list(info.dataloader)  # with_epoch: the worker stops after num_batches
    assert len(batches) == info.dataloader.num_batches == 4
    for images, texts in batches:
        # As OpenFlamingo's train_one_epoch unpacks a batch.
        input_ids = torch.stack([ids for ids, _ in texts]).squeeze(1)
        attention_mask = torch.stack([mask for _, mask in texts]).squeeze(1)
        assert images.shape == (2, MAX_IMAGES, 3, 64, 64)
        assert input_ids.shape == attention_mask.shape == (2, 256)
        assert (input_ids == tokenizer.convert_tokens_to_ids("<image>")).any(dim=-1).all()


def test_export_writes_no_shard_openflamingo_would_loop_on(wiki_build: Path, tmp_path: Path) -> None:  # noqa: F811
    """OpenFlamingo re-reads a shard that yields nothing forever; our export never writes one.

    Documents with no image over OpenFlamingo's floor are dropped and counted; when none is
    left the export writes no shard and fails.
    """
    assert command(export_command, ["--format", "mmc4", str(wiki_build), str(tmp_path / "all")]) == 0
    stats = json.loads((tmp_path / "all/stats.json").read_text())
    assert stats["export/documents/written"] + stats["export/documents/dropped/no_image_over_floor"] == WIKI_DOCUMENTS
    assert command(export_command, ["--format", "mmc4", "--min-image-bytes", "1000000", str(wiki_build), str(tmp_path / "none")]) == 1
    assert not list((tmp_path / "none").glob("*.tar"))
    assert json.loads((tmp_path / "none/sizes.json").read_text()) == {}
