"""What a request sends, read and bounded: fields from JSON or a multipart form, images, texts.

An image arrives as the multipart file ``image``, as base64 text in the field ``image``
or as a URL in ``image_url``. Every image goes through the build's own checks
(``crawl.images.process_image``: magic bytes, allowed formats, byte and pixel limits,
the decompression-bomb check) and a URL through the crawler's fetcher, whose address
guard refuses private and loopback addresses before connecting. Anything wrong
becomes an ``ApiError``: a 4xx status, a short code and a one-line message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

from flask import Request

from flamboyance.crawl.fetch.config import FetchConfig
from flamboyance.crawl.fetch.fetcher import Fetcher
from flamboyance.crawl.images import ImageConfig, ImageError, process_image


class ApiError(Exception):
    """A request the server will not serve: ``status`` (4xx, or 503), ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Limits:
    """Bounds on one request. Pixels are checked from the header, before decoding."""

    max_request_bytes: int = 24 << 20
    max_image_bytes: int = 8 << 20
    max_pixels: int = 25_000_000
    max_support: int = 8
    max_text_chars: int = 1000
    max_labels: int = 64
    max_k: int = 100
    max_new_tokens: int = 32
    max_beams: int = 5


# Where a request's images are cut down to before the models' own transforms: Flamingo's size.
STORED_IMAGE_SIDE = 320
_SIZE_ERRORS = ("too_large_bytes", "decompression_bomb")


def image_config(limits: Limits) -> ImageConfig:
    return ImageConfig(size=STORED_IMAGE_SIDE, max_bytes=limits.max_image_bytes, max_pixels=limits.max_pixels)


def checked_image(data: bytes, limits: Limits, field: str = "image") -> bytes:
    """The image as a JPEG after the build's checks; an ApiError (413 for size, 400 otherwise) if it fails."""
    try:
        return process_image(data, image_config(limits)).jpeg
    except ImageError as error:
        raise ApiError(413 if error.reason in _SIZE_ERRORS else 400, error.reason, f"{field}: {error}") from None


def fetch_image(url: str, fetch: FetchConfig) -> bytes:
    """The body of an image URL, fetched by the crawler's fetcher (address guard, size limit, timeouts)."""

    async def one() -> Any:
        async with Fetcher(fetch) as fetcher:
            return await fetcher.fetch(url, "image")

    result = asyncio.run(one())
    if not result.ok:
        raise ApiError(400, f"image_url_{result.error}", f"could not fetch the image URL: {result.error}")
    return result.body


def fetch_config(limits: Limits, allow_private: bool = False) -> FetchConfig:
    """How image URLs are fetched: the crawler's defaults, one quick try, no robots.txt (a user's
    own request for one URL, as a browser would make it), bodies bounded by the image limit."""
    return replace(
        FetchConfig(),
        respect_robots=False,
        retries=0,
        total_timeout=15.0,
        max_redirects=3,
        max_bytes={"image": limits.max_image_bytes},
        content_types={"image": ("image/*", "application/octet-stream")},
        allow_private=allow_private,
    )


class Payload:
    """One request's fields, from a JSON object or a form (multipart or urlencoded)."""

    def __init__(self, fields: dict[str, Any], files: dict[str, list[Any]], limits: Limits, fetch: FetchConfig) -> None:
        self.fields, self.files, self.limits, self.fetch = fields, files, limits, fetch

    @classmethod
    def from_request(cls, request: Request, limits: Limits, fetch: FetchConfig) -> Payload:
        empty = ApiError(400, "empty_body", "the request has no body: send JSON or a multipart form")
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            fields = {name: values if len(values) > 1 else values[0] for name, values in request.form.lists()}
            if not fields and not request.files:
                raise empty
            return cls(fields, {name: request.files.getlist(name) for name in request.files}, limits, fetch)
        body = request.get_data(cache=False)
        if not body.strip():
            raise empty
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ApiError(400, "bad_json", f"the body is not JSON ({error}); images go in a multipart form or as base64") from None
        if not isinstance(fields, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return cls(fields, {}, limits, fetch)

    def has(self, name: str) -> bool:
        return name in self.fields or name in self.files

    def text(self, name: str, required: bool = True, default: str | None = None) -> str | None:
        value = self.fields.get(name, default)
        if value is None or value == "":
            if required:
                raise ApiError(400, "missing_field", f"the field {name!r} is required")
            return default
        if not isinstance(value, str):
            raise ApiError(400, "bad_field", f"the field {name!r} must be a string")
        return self._bounded(name, value)

    def _bounded(self, name: str, value: str) -> str:
        if len(value) > self.limits.max_text_chars:
            raise ApiError(413, "text_too_long", f"{name}: {len(value)} characters > {self.limits.max_text_chars}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.fields.get(name, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ApiError(400, "bad_field", f"the field {name!r} must be an integer") from None
        if not low <= number <= high:
            raise ApiError(400, "out_of_range", f"{name} must be in {low}..{high}, not {number}")
        return number

    def labels(self, name: str = "labels") -> list[str]:
        """A JSON list of strings (in a form: its JSON text), 2 to ``max_labels`` of them."""
        value = self.fields.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ApiError(400, "bad_field", f"{name} must be a JSON list of strings") from None
        if not isinstance(value, list) or not all(isinstance(label, str) and label.strip() for label in value):
            raise ApiError(400, "bad_field", f"{name} must be a JSON list of non-empty strings")
        if not 2 <= len(value) <= self.limits.max_labels:
            raise ApiError(400, "out_of_range", f"{name} needs 2 to {self.limits.max_labels} entries, not {len(value)}")
        return [self._bounded(name, label) for label in value]

    def image(self, name: str = "image", required: bool = True) -> bytes | None:
        """The checked JPEG of the image sent as a file, base64 text or ``NAME_url``."""
        files = self.files.get(name)
        if files:
            return checked_image(files[0].read(self.limits.max_image_bytes + 1), self.limits, name)
        if self.fields.get(name):
            return checked_image(decode_base64(self.fields[name], name, self.limits), self.limits, name)
        if self.fields.get(f"{name}_url"):
            return checked_image(fetch_image(self._url(f"{name}_url"), self.fetch), self.limits, f"{name}_url")
        if required:
            raise ApiError(400, "missing_image", f"send an image: a multipart file {name!r}, base64 text in {name!r}, or {name}_url")
        return None

    def _url(self, name: str) -> str:
        value = self.fields[name]
        if not isinstance(value, str):
            raise ApiError(400, "bad_field", f"{name} must be a string")
        return self._bounded(name, value)

    def support(self, with_questions: bool = False) -> list[tuple[bytes, str, str | None]]:
        """Few-shot support examples as (checked JPEG, text, question).

        JSON: ``support: [{"image": BASE64 or "image_url": URL, "text": ..., "question": ...}]``;
        a form: files ``support_image`` with fields ``support_text`` (and ``support_question``), in order.
        """
        if "support_image" in self.files:
            images = self.files["support_image"]
            texts, questions = self._form_list("support_text"), self._form_list("support_question")
            if len(texts) != len(images) or (with_questions and len(questions) != len(images)):
                raise ApiError(400, "bad_support", "send as many support_text (and support_question) fields as support_image files")
            self._count_support(len(images))
            return [
                (checked_image(file.read(self.limits.max_image_bytes + 1), self.limits, "support_image"), self._bounded("support_text", text),
                 self._bounded("support_question", questions[n]) if with_questions else None)
                for n, (file, text) in enumerate(zip(images, texts))
            ]
        entries = self.fields.get("support", [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise ApiError(400, "bad_support", "support must be a list of objects with an image and a text")
        self._count_support(len(entries))
        examples = []
        for entry in entries:
            example = Payload(entry, {}, self.limits, self.fetch)
            question = example.text("question") if with_questions else None
            examples.append((example.image("image"), example.text("text"), question))
        return examples

    def _form_list(self, name: str) -> list[str]:
        value = self.fields.get(name, [])
        return value if isinstance(value, list) else [value]

    def _count_support(self, count: int) -> None:
        if count > self.limits.max_support:
            raise ApiError(413, "too_many_support_examples", f"{count} support examples > {self.limits.max_support}")


def decode_base64(value: Any, name: str, limits: Limits) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, "bad_field", f"{name} must be base64 text")
    text = value.split(",", 1)[1] if value.startswith("data:") else value  # a data: URL from a browser
    if len(text) > limits.max_image_bytes * 4 // 3 + 4:
        raise ApiError(413, "too_large_bytes", f"{name}: more than {limits.max_image_bytes} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_base64", f"{name} is not valid base64") from None
