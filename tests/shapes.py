"""A synthetic task whose text depends on the image: does a Flamingo run learn to look?

Images are drawings of coloured shapes (``shards.synthetic.draw``); the text after each
image names its colour and shape (``Output: A red circle.``). A model that reads the
images can tell the 24 answers apart; one that cannot is left at chance (1/24). Used by
the acceptance tests and the demo's smoke run; written as real interleaved shards.
"""

from __future__ import annotations

import itertools
import random

from flamboyance.flamingo_model.fewshot import FewShotExample
from flamboyance.shards import storage
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.layout import interleaved_sample, pair_samples
from flamboyance.shards.loader.transforms import ImageTransform
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.synthetic import BACKGROUNDS, COLOURS, SHAPES, Drawing, jpeg
from flamboyance.shards.writer import ShardWriter

ANSWERS = [f"A {colour} {shape}." for colour, shape in itertools.product(COLOURS, SHAPES)]


def answer(drawing: Drawing) -> str:
    return f"A {drawing.colour} {drawing.shape}."


def random_drawing(rng: random.Random) -> Drawing:
    return Drawing(rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(BACKGROUNDS))


def write_shape_shards(
    folder: str, documents: int, images_per_document: int = 3, seed: int = 0, per_shard: int = 32, pairs: bool = False
) -> list[str]:
    """Shards of ``<image>Output: A red circle.<EOC>...`` documents, with manifest and sizes.json.

    With ``pairs``, the pair layout instead (``KEY.jpg`` + ``KEY.txt`` = ``A red circle.``).
    """
    rng = random.Random(seed)
    with ShardWriter(folder, f"shapes{seed}", max_samples=per_shard) as writer:
        for number in range(documents):
            nodes, payloads = [], []
            for index in range(images_per_document):
                drawing = random_drawing(rng)
                url = f"https://shapes.invalid/{seed}/{number}/{index}.jpg"
                nodes += [ImageNode(url=url, index=index, caption=answer(drawing)), TextNode(f"Output: {answer(drawing)}")]
                payloads.append(jpeg(drawing, 64, rng))
            document = Document(key=f"shapes{seed}d{number}", url=f"https://shapes.invalid/{seed}/{number}", nodes=nodes)
            for sample in pair_samples(document, payloads) if pairs else [interleaved_sample(document, payloads)]:
                writer.write(sample)
    write_manifest(folder, [info.to_json() for info in writer.shards])
    return [storage.join(folder, info.name) for info in writer.shards]


def shape_examples(count: int, transform: ImageTransform, seed: int, blank: bool = False) -> list[FewShotExample]:
    """Few-shot examples of the task; ``blank`` replaces every image by a grey one (the control)."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        drawing = random_drawing(rng)
        image = transform(jpeg(drawing, 64, rng))
        examples.append(FewShotExample(image.zero_() if blank else image, answer(drawing)))
    return examples
