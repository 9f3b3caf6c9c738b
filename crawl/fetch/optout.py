"""Opt-outs of AI training that site owners put on pages and images.

Two places carry them: the ``X-Robots-Tag`` response header of an image (the fetcher
checks it and drops the image with reason "optout") and the ``<meta name="robots">``
tags of the page that shows the images (the extractor collects their directives and
asks ``page_opts_out_images``). The directives that count are img2dataset's default list:
``noai`` and ``noimageai`` (the opt-out conventions proposed by DeviantArt and others)
and ``noindex`` / ``noimageindex`` (the owner does not want the content reused by
crawlers at all).

A header value may be scoped to one crawler (``X-Robots-Tag: otherbot: noai``); such a
value applies to us only when it names our user-agent token.
"""

from __future__ import annotations

from typing import Iterable

DEFAULT_DIRECTIVES = frozenset({"noai", "noimageai", "noindex", "noimageindex"})
# Directives that themselves contain a colon, so "name: value" is not a bot scope.
_VALUED = ("unavailable_after", "max-snippet", "max-image-preview", "max-video-preview")


def _directives(values: Iterable[str], agent_token: str) -> set[str]:
    found: set[str] = set()
    token = agent_token.lower()
    for value in values:
        scope, sep, rest = value.partition(":")
        scope = scope.strip().lower()
        if sep and scope not in _VALUED and "," not in scope:
            if scope not in (token, "*"):
                continue
            value = rest
        found.update(part.strip().lower() for part in value.split(","))
    return found


def header_opts_out(
    values: Iterable[str], agent_token: str, directives: Iterable[str] = DEFAULT_DIRECTIVES
) -> bool:
    """Whether ``X-Robots-Tag`` header values (each repeated header one value) opt out."""
    return not _directives(values, agent_token).isdisjoint(directives)


def page_opts_out_images(meta_robots: Iterable[str], directives: Iterable[str] = DEFAULT_DIRECTIVES) -> bool:
    """Whether a page's ``<meta name="robots">`` directives opt its images out of training.

    ``meta_robots`` holds the directives as written in the content attributes, e.g.
    ``{"noai", "nofollow"}`` or ``{"noindex, nofollow"}``; case and spacing do not matter.
    """
    found = {part.strip().lower() for entry in meta_robots for part in entry.split(",")}
    return not found.isdisjoint(directives)
