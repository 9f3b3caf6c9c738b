"""Text tokenizers that need nothing from a hub.

A CLIP text transformer uses open_clip's ``SimpleTokenizer``, whose BPE vocabulary ships
inside the open_clip package. A from-scratch Hugging Face text tower (BERT-style) gets a
small WordPiece tokenizer trained on the run's own captions, saved in the run's output
folder so that a resumed run, the evaluation and the export all use the same one.
Either way the tokenizer is a picklable callable ``list[str] -> LongTensor [n, context]``
(open_clip's tokenizer interface), so DataLoader workers can run it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

from flamboyance.pretrain_encoder.models import uses_hf_text

Tokenize = Callable[[list[str]], torch.Tensor]
# Ids 0..4, in this order: the pad id must be 0, the BERT config's pad_token_id.
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(captions: Iterable[str], folder: str, vocab_size: int) -> None:
    """Train a lower-cased WordPiece tokenizer on ``captions`` and save it (Hugging Face format) in ``folder``."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    model = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    model.normalizer = normalizers.BertNormalizer(lowercase=True)
    model.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    model.train_from_iterator(captions, trainer)
    cls, sep = model.token_to_id("[CLS]"), model.token_to_id("[SEP]")
    model.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    model.decoder = decoders.WordPiece()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=model, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
    wrapped.save_pretrained(folder)


def build_tokenizer(model_config: dict[str, Any], folder: str, captions: Callable[[], Iterable[str]], vocab_size: int) -> Tokenize:
    """The tokenizer of a resolved model config; trains one into ``folder`` when the text tower needs it.

    For a Hugging Face text tower, ``model_config["text_cfg"]["hf_tokenizer_name"]`` is set
    to ``folder``. ``captions`` is only called when a tokenizer has to be trained.
    """
    text = model_config["text_cfg"]
    context = text.get("context_length", 77)
    if not uses_hf_text(model_config):
        return SimpleTokenizer(context_length=context)
    if not os.path.isfile(os.path.join(folder, "tokenizer.json")):
        from transformers import AutoConfig

        limit = AutoConfig.from_pretrained(text["hf_model_name"]).vocab_size
        train_wordpiece(captions(), folder, min(vocab_size, limit))
    text["hf_tokenizer_name"] = folder
    return HFTokenizer(folder, context_length=context)
