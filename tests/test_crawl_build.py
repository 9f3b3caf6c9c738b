"""``flamboyance build --urls``: the wiki site crawled from a local server gives the documents
its WARCs give, the crawl can be re-extracted from ``--save-warc``, and private addresses
are refused unless allowed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from build_checks import assert_same_documents, documents
from fetch_servers import LocalServer, redirect, text

from flamboyance.cli import main
from flamboyance.crawl.build import run_build
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.fetch import FetchConfig
from flamboyance.crawl.units import url_units, warc_units
from flamboyance.crawl.url_list import count_rows
from flamboyance.crawl.url_unit import run_url_unit
from flamboyance.shards import config as config_io
from flamboyance.shards.stats import Stats


@pytest.fixture(scope="module")
def warc_build(wiki_site, tmp_path_factory, ray_local) -> Path:
    """The reference: the site's pages and images read from its WARCs."""
    output = tmp_path_factory.mktemp("warc") / "out"
    pages, images = str(wiki_site / "pages.warc.gz"), str(wiki_site / "images.warc.gz")
    config = BuildConfig(filters=None)
    result = run_build(
        warc_units([pages], config.unit_bytes), str(output), config, {"warc": [pages]}, [images], show_progress=False
    )
    assert result.ok
    return output


def test_a_url_list_crawl_gives_the_documents_of_the_warc_build(
    warc_build, wiki_site, static_site, tmp_path, ray_local, capsys
):
    site = static_site(wiki_site / "site")
    names = sorted(page.name for page in (wiki_site / "site" / "A").iterdir())
    url_list = tmp_path / "pages.jsonl"
    url_list.write_text(
        "".join(json.dumps({"url": f"{site.url}/A/{quote(name)}", "topic": "music"}) + "\n" for name in names)
    )
    output, saved = tmp_path / "out", tmp_path / "saved"
    argv = ["build", "--urls", str(url_list), "--output", str(output), "--save-warc", str(saved),
            "--allow-private", "--set", "urls_per_unit=40", "--set", "filters=null", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "pages: 85 read, 85 parsed, 85 documents written" in capsys.readouterr().out
    crawled = documents(output)
    assert_same_documents(documents(warc_build), crawled)
    row_of = {name: row for row, name in enumerate(names)}
    for name, (document, _) in crawled.items():
        assert document.source == {"urls": str(url_list), "row": row_of[name]} and document.meta == {"topic": "music"}
    stats = json.loads((output / "stats.json").read_text())
    assert stats["fetch/page/ok"] == stats["hosts/127.0.0.1/ok"] - stats["fetch/image/ok"] == 85
    assert not list((output / "fetch-cache").iterdir())  # finished units leave no cache

    # Every unit's responses were kept: the crawl re-extracts offline to the same documents.
    requests = len(site.requests)
    warcs = sorted(str(path) for path in saved.glob("*.warc.gz"))
    assert len(warcs) == 3
    offline = tmp_path / "offline"
    assert main(["build", "--warc", *warcs, "--image-warc", *warcs, "--output", str(offline), "--set", "filters=null",
                 "--no-progress"]) == 0
    assert len(site.requests) == requests
    assert_same_documents(crawled, documents(offline))

    # The same command again: every unit is done, nothing is fetched.
    assert main(argv) == 0
    assert "(3 already done, 0 failed)" in capsys.readouterr().out
    assert len(site.requests) == requests


def test_private_addresses_and_redirects_to_them_are_refused_without_allow_private(tmp_path):
    with LocalServer({"/": text("<p>secret admin page</p>")}) as secret:
        port = secret.port
        with LocalServer({"/go": redirect(f"http://127.0.0.1:{port}/")}) as redirector:
            urls = [
                f"http://127.0.0.1:{port}/",
                "http://10.0.0.1/",
                f"http://[::1]:{port}/",
                "http://169.254.169.254/latest/meta-data/",
                f"http://2130706433:{port}/",
                redirector.url("/go"),
            ]
            url_list = tmp_path / "urls.txt"
            url_list.write_text("\n".join(urls) + "\n")
            # Only the redirector's exact address and port may be reached, so its redirect is seen.
            config = BuildConfig(fetch=FetchConfig(allowed_networks=(f"127.0.0.1:{redirector.port}",)))
            unit = url_units(str(url_list), count_rows(str(url_list)), config.urls_per_unit)[0]
            stats = Stats()
            run_url_unit(unit, config, str(tmp_path / "out"), stats)
        assert secret.log == []
        assert "/go" in redirector.log
    assert stats.get("fetch/page/failed/refused_address") == stats.get("pages/skipped/refused_address") == 6
    assert stats.get("documents/written") == 0
    # 2130706433 is 127.0.0.1 written as one number; the redirector's host is 127.0.0.1 too.
    assert stats.under("hosts") == {
        "127.0.0.1/refused_address": 3, "::1/refused_address": 1,
        "10.0.0.1/refused_address": 1, "169.254.169.254/refused_address": 1,
    }  # fmt: skip


def test_fetch_settings_load_from_config_overrides():
    config = config_io.load(BuildConfig, None, ["fetch.max_per_host=8", "fetch.allow_private=true"])
    assert config.fetch.max_per_host == 8 and config.fetch.allow_private
    assert config.fetch.agent_token == FetchConfig().agent_token
