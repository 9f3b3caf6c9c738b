"""The Flask application: JSON in and out, every failure a JSON error, one access-log line per request.

Routes: ``GET /`` (a page to try the API), ``/health`` (the process answers),
``/ready`` (the models are loaded), ``/openapi.json``, and the ``POST /v1/...`` uses:
caption, ask, classify, embed, search, moderate. Models load in a background thread
so that ``/health`` answers at once and ``/ready`` says when the rest will.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from flamboyance.pretrain_encoder.evaluate import SINGLE_TEMPLATE
from flamboyance.serve.batching import Overloaded
from flamboyance.serve.inputs import ApiError, Limits, Payload, fetch_config
from flamboyance.serve.models import BatchSettings, Generation, Models, Ranking
from flamboyance.serve.openapi import openapi
from flamboyance.serve.paths import ModelPaths

ACCESS_LOG = logging.getLogger("flamboyance.serve.access")
log = logging.getLogger(__name__)


@dataclass
class ServeSettings:
    paths: ModelPaths
    limits: Limits = field(default_factory=Limits)
    batching: BatchSettings = field(default_factory=BatchSettings)
    api_key: str | None = None
    allow_private_urls: bool = False
    device: str | None = None
    moderation_threshold: float = 0.5  # the safety filter step's default max_confidence


class Loader:
    """Loads the models once, in a thread; ``models`` is set when done, ``error`` if it failed."""

    def __init__(self, settings: ServeSettings) -> None:
        self.models: Models | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._load, args=(settings,), name="load-models", daemon=True)
        self.thread.start()

    def _load(self, settings: ServeSettings) -> None:
        try:
            self.models = Models(settings.paths, settings.batching, settings.device)
        except Exception as error:  # noqa: BLE001 - reported by /ready and every endpoint
            log.exception("loading the models failed")
            self.error = f"{type(error).__name__}: {error}"


def create_app(settings: ServeSettings) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_request_bytes
    app.json.sort_keys = False
    loader = Loader(settings)
    limits, fetch = settings.limits, fetch_config(settings.limits, settings.allow_private_urls)
    page = resources.files("flamboyance.serve").joinpath("page.html").read_text(encoding="utf-8")

    def models() -> Models:
        if loader.models is None:
            raise ApiError(503, "not_ready", loader.error or "the models are still loading")
        return loader.models

    def payload() -> Payload:
        return Payload.from_request(request, limits, fetch)

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        g.request_id = uuid.uuid4().hex[:16]
        if settings.api_key and request.path.startswith("/v1/"):
            given = request.headers.get("X-API-Key") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
                raise ApiError(401, "unauthorized", "a valid API key is required (header X-API-Key or Authorization: Bearer KEY)")

    @app.after_request
    def access_log(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "request_id": g.get("request_id"),
            "remote": request.remote_addr,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ms": round(1000 * (time.perf_counter() - g.get("started", time.perf_counter())), 2),
            "bytes_in": request.content_length or 0,
            "bytes_out": response.calculate_content_length() or 0,
        }
        if response.status_code >= 400 and response.is_json:
            entry["error"] = (response.get_json(silent=True) or {}).get("error")
        ACCESS_LOG.info(json.dumps(entry))
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> tuple[Response, int]:
        return jsonify(error=error.code, message=error.message), error.status

    @app.errorhandler(Overloaded)
    def overloaded(error: Overloaded) -> tuple[Response, int, dict[str, str]]:
        return jsonify(error="overloaded", message="too many requests are queued; retry shortly"), 503, {"Retry-After": "1"}

    @app.errorhandler(FutureTimeout)
    def timed_out(error: FutureTimeout) -> tuple[Response, int]:
        return jsonify(error="timeout", message="the model did not answer in time"), 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        code = (error.name or "error").lower().replace(" ", "_")
        return jsonify(error=code, message=error.description), error.code or 500

    @app.errorhandler(Exception)
    def internal(error: Exception) -> tuple[Response, int]:
        log.exception("request %s failed", g.get("request_id"))
        return jsonify(error="internal", message=f"the server failed on this request (id {g.get('request_id')})"), 500

    @app.get("/")
    def index() -> Response:
        return Response(page, mimetype="text/html")

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.get("/ready")
    def ready() -> tuple[Response, int]:
        if loader.models is None:
            return jsonify(ready=False, error="not_ready", message=loader.error or "loading"), 503
        loaded = loader.models
        return jsonify(
            ready=True,
            flamingo=loaded.paths.flamingo if loaded.flamingo else None,
            encoder=loaded.paths.encoder if loaded.encoder else None,
            index=loaded.index.description if loaded.index else None,
            batches=loaded.batch_stats(),
        ), 200

    @app.get("/openapi.json")
    def spec() -> Response:
        return jsonify(openapi(limits))

    def flamingo() -> Any:
        served = models().flamingo
        if served is None:
            raise ApiError(503, "no_flamingo", "this server has no Flamingo model (start it with --flamingo CONFIG.yaml)")
        return served

    def encoder() -> Any:
        served = models().encoder
        if served is None:
            raise ApiError(503, "no_encoder", "this server has no encoder (start it with --encoder OPEN_CLIP_EXPORT)")
        return served

    def support(data: Payload, with_questions: bool = False) -> tuple[Any, ...]:
        model = flamingo()
        return tuple(model.example(jpeg, text, question) for jpeg, text, question in data.support(with_questions))

    def generation(data: Payload, question: str | None) -> str:
        model = flamingo()
        job = Generation(
            query=model.example(data.image(), question=question),
            support=support(data, question is not None),
            max_new_tokens=data.integer("max_new_tokens", min(20, limits.max_new_tokens), 1, limits.max_new_tokens),
            num_beams=data.integer("num_beams", min(3, limits.max_beams), 1, limits.max_beams),
        )
        return model.generate(job)

    @app.post("/v1/caption")
    def caption() -> Response:
        return jsonify(text=generation(payload(), None))

    @app.post("/v1/ask")
    def ask() -> Response:
        data = payload()
        return jsonify(answer=generation(data, data.text("question")))

    @app.post("/v1/classify")
    def classify() -> Response:
        data = payload()
        labels, mode = data.labels(), data.text("mode", required=False, default="zero-shot")
        if mode == "zero-shot":
            template = data.text("template", required=False, default=SINGLE_TEMPLATE[0])
            if "{c}" not in template:
                raise ApiError(400, "bad_field", "template must contain {c}, where each label goes")
            scores = encoder().classify(data.image(), labels, template)
            extra: dict[str, Any] = {}
        elif mode == "flamingo":
            question = data.text("question", required=False)
            model = flamingo()
            job = Ranking(model.example(data.image(), question=question), support(data, question is not None), tuple(labels))
            likelihoods = model.rank(job)
            scores = _softmax(likelihoods)
            extra = {"log_likelihoods": dict(zip(labels, likelihoods))}
        else:
            raise ApiError(400, "bad_field", "mode must be 'zero-shot' (the encoder) or 'flamingo' (ranking by likelihood)")
        order = sorted(range(len(labels)), key=lambda i: -scores[i])
        return jsonify(labels=[labels[i] for i in order], scores=[scores[i] for i in order], mode=mode, **extra)

    def query_embedding(data: Payload) -> tuple[str, Any]:
        model = encoder()
        if data.has("image") or data.has("image_url"):
            return "image", model.embed_image(data.image())
        text = data.text("text", required=False)
        if text is None:
            raise ApiError(400, "missing_field", "send an image (file, base64 or image_url) or a text")
        return "text", model.embed_texts([text])[0]

    @app.post("/v1/embed")
    def embed() -> Response:
        kind, vector = query_embedding(payload())
        return jsonify(kind=kind, dim=len(vector), embedding=vector.tolist())

    @app.post("/v1/search")
    def search() -> Response:
        index = models().index
        if index is None:
            raise ApiError(503, "no_index", "this server has no index (build one with flamboyance index, start with --index DIR)")
        data = payload()
        k = data.integer("k", 5, 1, limits.max_k)
        kind, vector = query_embedding(data)
        try:
            results = index.search(vector.numpy(), k)
        except ValueError as error:
            raise ApiError(409, "index_mismatch", str(error)) from None
        return jsonify(query=kind, exact=index.exact, results=results)

    @app.post("/v1/moderate")
    def moderate() -> Response:
        model = encoder()
        probabilities = model.moderate(payload().image())
        unsafe = sum(probabilities[: model.safety.unsafe_count])
        return jsonify(
            unsafe=unsafe,
            decision="block" if unsafe > settings.moderation_threshold else "allow",
            threshold=settings.moderation_threshold,
            concepts=dict(zip(model.concepts, probabilities)),
        )

    return app


def _softmax(values: list[float]) -> list[float]:
    import math

    top = max(values)
    weights = [math.exp(value - top) for value in values]
    total = sum(weights)
    return [weight / total for weight in weights]

