"""Flamboyance: web pages to Flamingo training data, and Flamingo training on it.

The packages, bottom to top (imports point down only):
``flamboyance.shards`` (document model, shard format, storage, loader),
``flamboyance.filter`` and ``flamboyance.crawl`` (data in: filters and dedup; WARCs, URL
lists, imports, video), ``flamboyance.pretrain_encoder``, ``flamboyance.flamingo_model``,
and on top the CLI (``flamboyance.cli``), the demo and this API::

    import flamboyance

    result = flamboyance.build("out", warc=["pages.warc.gz"], image_warc=["images.warc.gz"])
    for document in flamboyance.read_documents("out"):
        print(document.url, len(document.images()))
    flamboyance.dedup("out", "out-dedup")
    print(flamboyance.stats("out")["funnel"])
    flamboyance.pretrain_encoder("configs/encoder-tiny.yaml", ["steps=50"])
    flamboyance.train("configs/flamingo-tiny.yaml", ["steps=20"])
    model = flamboyance.load_flamingo("configs/flamingo-tiny.yaml")
    print(model.caption(open("picture.jpg", "rb").read()))
"""

from flamboyance.api import build, dedup, evaluate, load_flamingo, pretrain_encoder, read_documents, stats, train

__all__ = ["build", "dedup", "evaluate", "load_flamingo", "pretrain_encoder", "read_documents", "stats", "train"]
