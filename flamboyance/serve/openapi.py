"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``, with the server's limits in it."""

from __future__ import annotations

from typing import Any

from flamboyance.pretrain_encoder.evaluate import SINGLE_TEMPLATE
from flamboyance.serve.inputs import Limits

_IMAGE = {
    "image": {"type": "string", "description": "base64 of the image (a data: URL is accepted); in a multipart form, a file"},
    "image_url": {"type": "string", "format": "uri", "description": "an http(s) URL; private and loopback addresses are refused"},
}
_SUPPORT = {
    "support": {
        "type": "array",
        "description": "few-shot support examples, shown before the query Flamingo's way. In a form: files support_image "
        "with fields support_text (and support_question), in order",
        "items": {
            "type": "object",
            "required": ["text"],
            "properties": {**_IMAGE, "text": {"type": "string"}, "question": {"type": "string"}},
        },
    }
}


def _operation(summary: str, properties: dict[str, Any], required: list[str], answer: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    error = {"$ref": "#/components/schemas/Error"}
    return {
        "post": {
            "summary": summary,
            "security": [{"apiKey": []}, {}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema}, "multipart/form-data": {"schema": schema}},
            },
            "responses": {
                "200": {"description": "the answer", "content": {"application/json": {"schema": {"type": "object", "properties": answer}}}},
                "4XX": {"description": "a bad request: error is a short code, message says what is wrong",
                        "content": {"application/json": {"schema": error}}},
                "503": {"description": "not ready, overloaded (see Retry-After) or that model is not served",
                        "content": {"application/json": {"schema": error}}},
            },
        }
    }


def openapi(limits: Limits) -> dict[str, Any]:
    """The document; limits are stated where they apply."""
    text = {"type": "string", "maxLength": limits.max_text_chars}
    support = {"support": {**_SUPPORT["support"], "maxItems": limits.max_support}}
    decoding = {
        "max_new_tokens": {"type": "integer", "minimum": 1, "maximum": limits.max_new_tokens, "default": 20},
        "num_beams": {"type": "integer", "minimum": 1, "maximum": limits.max_beams, "default": 3},
    }
    number_list = {"type": "array", "items": {"type": "number"}}
    health = {"get": {"summary": "the process answers", "responses": {"200": {"description": "ok"}}}}
    ready = {"get": {"summary": "the models are loaded", "responses": {"200": {"description": "ready"}, "503": {"description": "loading"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flamboyance model server",
            "version": "1",
            "description": f"Images up to {limits.max_image_bytes} bytes and {limits.max_pixels} pixels; requests up to "
            f"{limits.max_request_bytes} bytes. Send JSON, or a multipart form with the image as the file 'image'.",
        },
        "paths": {
            "/health": health,
            "/ready": ready,
            "/v1/caption": _operation("a caption of the image, by beam search stopping at <EOC>",
                                      {**_IMAGE, **support, **decoding}, [], {"text": {"type": "string"}}),
            "/v1/ask": _operation("the answer to a question about the image (Question: ... Answer:)",
                                  {**_IMAGE, "question": text, **support, **decoding}, ["question"], {"answer": {"type": "string"}}),
            "/v1/classify": _operation(
                "labels ranked for the image: zero-shot with the encoder, or close-ended ranking by Flamingo's likelihood",
                {
                    **_IMAGE,
                    "labels": {"type": "array", "items": text, "minItems": 2, "maxItems": limits.max_labels,
                               "description": "in a form: the JSON text of the list"},
                    "mode": {"type": "string", "enum": ["zero-shot", "flamingo"], "default": "zero-shot"},
                    "template": {**text, "default": SINGLE_TEMPLATE[0], "description": "zero-shot prompt; {c} is the label"},
                    "question": {**text, "description": "flamingo mode: rank the labels as answers to this question"},
                    **support,
                },
                ["labels"],
                {"labels": {"type": "array", "items": {"type": "string"}}, "scores": number_list, "mode": {"type": "string"}},
            ),
            "/v1/embed": _operation("the encoder's unit-length embedding of an image or a text",
                                    {**_IMAGE, "text": text}, [], {"kind": {"type": "string"}, "dim": {"type": "integer"}, "embedding": number_list}),
            "/v1/search": _operation(
                "the k indexed images nearest an image or a text",
                {**_IMAGE, "text": text, "k": {"type": "integer", "minimum": 1, "maximum": limits.max_k, "default": 5}},
                [],
                {"exact": {"type": "boolean"}, "results": {"type": "array", "items": {"type": "object"}}},
            ),
            "/v1/moderate": _operation(
                "the safety step's unsafe probability and its decision",
                {**_IMAGE},
                [],
                {"unsafe": {"type": "number"}, "decision": {"type": "string", "enum": ["allow", "block"]}, "concepts": {"type": "object"}},
            ),
        },
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["error", "message"],
                                  "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
