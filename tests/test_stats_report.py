"""The audit surface of a build: ``flamboyance stats`` (funnel and HTML report) and
``flamboyance inspect --dropped-by``, on a real build of the generated sample site.

The HTML report is opened in headless Chromium: the test reads the numbers the page's
script drew and compares them with the build's JSON, and fails on any console message.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import lxml.html
import pytest
from browser import chromium_path

from flamboyance import cli
from flamboyance.filter import stats_command
from flamboyance.filter.pipeline import word_count
from flamboyance.filter.report.funnel import funnel, load_build
from flamboyance.filter.report.html import render_html, report_data
from flamboyance.shards import storage
from flamboyance.shards.inspect import iter_documents, resolve_shards

# Filters chosen so that every level drops something on the sample site: short
# paragraphs, small images (after fetching), blank banners (on their pixels, so the
# report has thumbnails) and, before fetching, pages of fewer than six images (which
# keeps the pages with a banner).
FILTERS = """
url: [{step: image_format}]
fetched: [{step: image_size, min_side: 64}]
pixels: [{step: low_information}]
paragraphs: [{step: word_count, min_words: 8}]
documents: [{step: gopher_quality}, {step: image_count, min_images: 6}]
final: [{step: text_and_image}, {step: image_count, min_images: 1}]
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory, ray_local) -> str:
    from flamboyance.crawl.build import run_build
    from flamboyance.crawl.config import BuildConfig
    from flamboyance.crawl.sample import write_sample_warcs
    from flamboyance.crawl.units import warc_units

    root = tmp_path_factory.mktemp("audit")
    pages, images, _ = write_sample_warcs(str(root / "sample"), pages=12)
    (root / "filters.yaml").write_text(FILTERS)
    config = BuildConfig(filters=str(root / "filters.yaml"), unit_bytes=max(1, os.path.getsize(pages) // 2))
    output = str(root / "out")
    result = run_build(warc_units([pages], config.unit_bytes), output, config,
                       inputs={"warc": [pages]}, image_warcs=[images], show_progress=False)
    assert result.ok
    return output


def run_stats(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    stats_command.add_arguments(parser)
    return stats_command.run(parser.parse_args(list(argv)))


def test_funnel_follows_documents_images_and_words_to_what_was_written(build: str) -> None:
    stats, report = load_build(build)
    rows = {row.step: row for row in funnel(stats, report)}
    assert rows["extracted"].images == stats.get("images/found")
    for name in report.steps:
        assert rows[name].dropped == sum(stats.under(f"filter/{name}/dropped").values())
    # Every level dropped something, and each quantity only goes down.
    assert rows["paragraphs/word_count"].words < rows["extracted"].words
    assert rows["pixels/low_information"].images < rows["fetched/image_size"].images < rows["fetched"].images
    assert rows["documents/image_count"].documents < rows["extracted"].documents
    assert rows["documents/image_count"].images < rows["extracted"].images
    ordered = list(rows.values())
    for quantity in ("documents", "images", "words"):
        values = [getattr(row, quantity) for row in ordered]
        assert values == sorted(values, reverse=True), quantity
    # The last row is what the shards hold, counted again from the documents themselves.
    written = list(iter_documents(resolve_shards(build)))
    assert rows["written"].documents == len(written) == stats.get("documents/written")
    assert rows["written"].images == sum(len(document.images()) for document in written)
    assert rows["written"].words == sum(word_count(document.text()) for document in written)


def test_stats_command_prints_the_funnel_and_writes_the_report(build: str, capsys) -> None:
    assert run_stats(build) == 0
    printed = capsys.readouterr().out
    stats, _ = load_build(build)
    written = next(line for line in printed.splitlines() if line.startswith("written"))
    assert written.split()[1] == str(stats.get("documents/written"))
    assert "whitespace-separated words" in printed
    assert storage.exists(storage.join(build, "report.html"))
    assert run_stats(str(Path(build) / "no-such-build")) == 2


def test_inspect_dropped_by_shows_sampled_drops_with_reason_score_and_url(build: str, capsys) -> None:
    assert cli.main(["inspect", build, "--dropped-by", "low_information", "--limit", "2"]) == 0
    printed = capsys.readouterr().out
    dropped = load_build(build)[0].get("filter/pixels/low_information/dropped/pixel_std_below")
    assert dropped > 0 and f"=== pixels/low_information: dropped {dropped} of" in printed
    assert "pixel_std_below  score=0" in printed
    assert "https://demo.flamboyance.invalid/static/banner.png" in printed
    assert "size 728x90" in printed
    # A paragraph drop shows its text.
    assert cli.main(["inspect", build, "--dropped-by", "paragraphs/word_count", "--limit", "0"]) == 0
    assert "Share this gallery with a friend." in capsys.readouterr().out
    assert cli.main(["inspect", build, "--dropped-by", "no_such_step"]) == 1
    assert "steps: url/image_format" in capsys.readouterr().err


def test_text_from_the_web_cannot_escape_the_report_data(build: str) -> None:
    stats, report = load_build(build)
    data = report_data(build, stats, report)
    data["steps"][0]["drops"].append({"step": "x", "reason": "r", "score": None, "document": None, "url": None,
                                      "alt": None, "size": None, "thumbnail": None,
                                      "text": "</script><script>alert(1)</script><!--"})
    page = render_html(data)
    assert page.count("</script>") == 2  # the data block's and the page script's own
    assert "<!--" not in page.split('id="report-data"')[1]


# --- the page in a real browser ---------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--enable-logging=stderr", "--v=0", "--dump-dom")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's executable; skipped when absent, except in CI (CI=true) where that fails."""
    return chromium_path()


THRESHOLD_LINES = '//div[@id="histograms"]/figure{score}//line[contains(@class, "threshold")]'


def render(chromium: str, page: Path, profile: Path) -> tuple[lxml.html.HtmlElement, list[str]]:
    """The DOM after the page's scripts ran, and the console messages it logged."""
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", page.as_uri()],
                          capture_output=True, text=True, timeout=60, check=True)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return lxml.html.fromstring(done.stdout), console


def test_console_errors_of_a_page_are_caught(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('oops'); missing();</script></body></html>")
    _, console = render(chromium, page, tmp_path / "profile")
    assert any("oops" in line for line in console)
    assert any("Uncaught ReferenceError" in line for line in console)


def test_report_renders_in_chromium_with_the_numbers_of_the_build(build: str, chromium: str, tmp_path: Path) -> None:
    assert run_stats(build, "--html", str(tmp_path / "report.html")) == 0
    dom, console = render(chromium, tmp_path / "report.html", tmp_path / "profile")
    assert console == []
    assert dom.body.get("data-rendered") == "true"
    stats, report = load_build(build)

    # Funnel: the rows drawn from the page's data equal the numbers in stats.json.
    drawn = {row.get("data-step"): {cell.get("class"): cell.text_content() for cell in row.iter("td")}
             for row in dom.xpath('//table[@id="funnel"]/tbody/tr')}
    assert drawn["written"]["documents"] == str(stats.get("documents/written"))
    assert drawn["extracted"]["images"] == str(stats.get("images/found"))
    for row in funnel(stats, report):
        assert [drawn[row.step][q] for q in ("documents", "images", "words")] == \
            [str(row.documents), str(row.images), str(row.words)]
    for name in report.steps:
        assert drawn[name]["dropped"] == str(sum(stats.under(f"filter/{name}/dropped").values()) or "")

    # Per-filter drops: in, kept and dropped of every step, as stats.json counts them.
    for row in dom.xpath('//table[@id="steps"]/tbody/tr'):
        name = row.get("data-step")
        cells = {cell.get("class"): cell.text_content() for cell in row.iter("td")}
        assert int(cells["in"]) == stats.get(f"filter/{name}/in")
        assert int(cells["kept"]) == stats.get(f"filter/{name}/kept")

    # One threshold line per threshold in filters.json, on the histogram of its score.
    thresholds = sum(h.low is not None for s in report.steps.values() for h in s.histograms.values()) + \
        sum(h.high is not None for s in report.steps.values() for h in s.histograms.values())
    assert len(dom.xpath(THRESHOLD_LINES.format(score=""))) == thresholds > 0
    words = dom.xpath(THRESHOLD_LINES.format(score='[@data-score="words"]'))
    assert [float(line.get("data-value")) for line in words] == [8.0]

    # Drops: images dropped once fetched (on their pixels or their size) show a thumbnail,
    # and nothing on the page points elsewhere.
    for step in ("pixels/low_information", "fetched/image_size"):
        thumbnails = dom.xpath(f'//div[@data-step="{step}"]//img')
        assert thumbnails and all(img.get("src").startswith("data:image/jpeg;base64,") for img in thumbnails), step

    # Warnings name the steps that dropped most of their input; axis labels are short.
    from flamboyance.filter.report.warnings import heavy_drops

    assert [p.text_content() for p in dom.xpath('//div[@id="warnings"]/p')] == heavy_drops(report) != []
    labels = [text.text_content() for text in dom.xpath('//div[@id="histograms"]//svg/text')]
    assert "16.8M" in labels and not any(label.isdigit() and len(label) > 4 for label in labels)
    assert all(element.get("src", "data:").startswith("data:") and not element.get("href")
               for element in dom.iter() if isinstance(element.tag, str))


def test_steps_that_drop_most_of_their_input_are_warned_about_by_name_and_score(build: str, capsys) -> None:
    from flamboyance.filter.report.warnings import heavy_drops

    stats, report = load_build(build)
    heavy = [step for step in report.steps.values() if step.inputs - step.kept > step.inputs / 2]
    warnings = heavy_drops(report)
    assert heavy and [line.split()[1] for line in warnings] == [step.name for step in heavy]
    images = next(line for line in warnings if line.split()[1] == "documents/image_count")
    step = report["documents/image_count"]
    assert f"dropped {step.inputs - step.kept} of {step.inputs} (" in images
    assert f"more than 50%): images < 6: {step.inputs - step.kept}" in images  # the score and its threshold
    assert heavy_drops(report, share=0.8) == []
    assert run_stats(build, "--no-html") == 0
    assert images in capsys.readouterr().out
    assert report_data(build, stats, report)["warnings"] == warnings
