"""A build that reads its WARCs from S3 and writes its shards to S3 (moto's server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import fsspec
import webdataset

from flamboyance.crawl.sample import write_sample_warcs
from flamboyance.shards.layout import read_interleaved


def test_build_from_s3_to_s3(tmp_path, s3_server):
    pages, images, site = write_sample_warcs(str(tmp_path / "sample"), pages=6, images_per_page=2)
    client = boto3.client("s3")
    client.create_bucket(Bucket="crawl")
    client.upload_file(pages, "crawl", "cc/pages.warc.gz")
    client.upload_file(images, "crawl", "cc/images.warc.gz")

    command = [sys.executable, "-m", "flamboyance.cli", "build", "--warc", "s3://crawl/cc/pages*.warc.gz",
               "--image-warc", "s3://crawl/cc/images.warc.gz", "--output", "s3://crawl/shards", "--no-progress"]
    done = subprocess.run(command, env={**os.environ, **s3_server}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{len(site.pages)} documents written" in done.stdout

    fs = fsspec.filesystem("s3")
    manifest = json.loads(fs.cat("s3://crawl/shards/interleaved/manifest.json"))
    assert manifest["samples"] == len(site.pages)
    assert not [name for name in fs.ls("crawl/shards/interleaved") if ".tmp-" in name]
    # webdataset streams the shards straight from the bucket.
    urls = [f"pipe:python -c \"import fsspec,sys; sys.stdout.buffer.write(fsspec.open('s3://crawl/shards/interleaved/{shard['name']}').open().read())\""
            for shard in manifest["shards"]]
    documents = [read_interleaved(sample)[0] for sample in webdataset.WebDataset(urls, shardshuffle=False)]
    assert sorted(doc.url for doc in documents) == sorted(site.pages)
    image_urls = {node.url for doc in documents for node in doc.images()}
    assert set(site.drawings) <= image_urls  # every drawing made it (no filters: icons too)
    sizes = json.loads(fs.cat("s3://crawl/shards/pairs/sizes.json"))
    assert sum(sizes.values()) == sum(1 for doc in documents for node in doc.images() if node.description())
