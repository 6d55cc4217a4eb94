"""Getting predictions out of a model version, whatever kind it is.

The protocols a team implements (or adapts) so phasegate can call their model:

- ``python``: a joblib or pickle file holding an object with ``predict`` (and ``predict_proba`` for
  a score). Loading a pickle runs code, so a version is only loaded when it was registered as
  trusted.
- ``http``: ``POST uri`` with ``{"instances": [{column: value, ...}, ...]}``; the answer is
  ``{"predictions": [...]}`` and, optionally, ``{"scores": [...]}`` of the same length.
  Records go in batches of 256.
- ``openai``: an OpenAI-compatible ``POST {uri}/chat/completions``; each record fills the
  version's ``prompt`` parameter (``{column}`` placeholders) and the answer's text, stripped, is
  the predicted label. ``model`` and ``system`` parameters are passed on; temperature is 0.
- ``predictions``: the model ran elsewhere; its predictions (and scores) are columns of the data.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from phasegate.errors import InvalidInput, Problem
from phasegate.evaluation.models import ModelVersion
from phasegate.evaluation.registry import local_path

BATCH = 256
CONCURRENCY = 8
TIMEOUT = 30.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Predictions:
    labels: list[Any] | None
    scores: list[float] | None


def _quiet(done: int, total: int) -> None:
    """Progress goes nowhere unless someone listens."""


def predict(
    version: ModelVersion,
    records: list[dict[str, Any]],
    *,
    positive: Any = None,
    progress: Progress = _quiet,
) -> Predictions:
    """The version's predictions for the records, in their order."""
    if version.kind == "python":
        return _python(version, records, positive)
    if version.kind == "http":
        return asyncio.run(_http(version, records, progress))
    if version.kind == "openai":
        return asyncio.run(_openai(version, records, progress))
    raise InvalidInput(
        f"{version.label} is a predictions version",
        [Problem("name the column holding its predictions (--prediction or --score)", field="prediction")],
    )


def _python(version: ModelVersion, records: list[dict[str, Any]], positive: Any) -> Predictions:
    if not version.trusted:
        raise InvalidInput(
            f"{version.label} was not registered as trusted",
            [
                Problem(
                    "loading a pickle runs code; register it again with --trust if you trust the file",
                    field="model",
                )
            ],
        )
    path = local_path(version.uri)
    if path is None or not path.is_file():
        raise InvalidInput("the model file is missing", [Problem(f"no file at {version.uri}", field="uri")])
    from phasegate.evaluation.registry import file_sha256

    if version.artifact_sha256 and file_sha256(path) != version.artifact_sha256:
        raise InvalidInput(
            "the model file changed since it was registered",
            [Problem(f"{path} no longer has {version.artifact_sha256}; register a new version", field="uri")],
        )
    import joblib
    import pandas as pd

    model = joblib.load(path)
    frame = pd.DataFrame.from_records(records)
    wanted = getattr(model, "feature_names_in_", None)
    if wanted is not None:
        missing = [str(c) for c in wanted if c not in frame.columns]
        if missing:
            raise InvalidInput(
                "the data lacks columns the model was trained on",
                [Problem(f"missing: {', '.join(missing)}", field="features")],
            )
        frame = frame[list(wanted)]
    labels = list(model.predict(frame))
    scores = None
    if hasattr(model, "predict_proba"):
        classes = [str(c) for c in model.classes_]
        column = classes.index(str(positive)) if str(positive) in classes else len(classes) - 1
        scores = [float(p) for p in model.predict_proba(frame)[:, column]]
    return Predictions(labels=labels, scores=scores)


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else _plain(v)) for k, v in record.items()}


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def _http(version: ModelVersion, records: list[dict[str, Any]], progress: Progress) -> Predictions:
    assert version.uri is not None
    batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    results: list[dict[str, Any] | None] = [None] * len(batches)
    limit = asyncio.Semaphore(CONCURRENCY)
    done = 0

    async with httpx.AsyncClient(timeout=TIMEOUT) as client:

        async def send(index: int, batch: list[dict[str, Any]]) -> None:
            nonlocal done
            async with limit:
                body = await _post(client, version.uri or "", {"instances": [_jsonable(r) for r in batch]})
            answer = body.get("predictions") if isinstance(body, dict) else None
            if not isinstance(answer, list) or len(answer) != len(batch):
                raise InvalidInput(
                    f"the endpoint {version.uri} did not answer as expected",
                    [Problem(f"expected 'predictions', a list of {len(batch)}", field="uri")],
                )
            results[index] = body
            done += len(batch)
            progress(done, len(records))

        await asyncio.gather(*(send(i, b) for i, b in enumerate(batches)))
    labels = [p for body in results if body for p in body["predictions"]]
    has_scores = all(body and isinstance(body.get("scores"), list) for body in results)
    scores = [float(s) for body in results if body for s in body["scores"]] if has_scores else None
    return Predictions(labels=labels, scores=scores)


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise InvalidInput(
            f"could not reach the model at {url}", [Problem(f"{type(exc).__name__}: {exc}", field="uri")]
        ) from exc
    if response.status_code >= 400:
        raise InvalidInput(
            f"the model at {url} answered HTTP {response.status_code}",
            [Problem(response.text[:200], field="uri")],
        )
    try:
        return response.json()
    except ValueError as exc:
        raise InvalidInput(
            f"the model at {url} did not answer JSON", [Problem(str(exc), field="uri")]
        ) from exc


async def _openai(version: ModelVersion, records: list[dict[str, Any]], progress: Progress) -> Predictions:
    template = version.parameters.get("prompt")
    if not isinstance(template, str):
        raise InvalidInput(
            "an openai version needs a prompt",
            [
                Problem(
                    "register it with a 'prompt' parameter using {column} placeholders", field="parameters"
                )
            ],
        )
    url = (version.uri or "").rstrip("/") + "/chat/completions"
    limit = asyncio.Semaphore(CONCURRENCY)
    answers: list[str] = [""] * len(records)
    done = 0

    async with httpx.AsyncClient(timeout=TIMEOUT) as client:

        async def ask(index: int, record: dict[str, Any]) -> None:
            nonlocal done
            try:
                prompt = template.format(**record)
            except (KeyError, IndexError, ValueError) as exc:
                raise InvalidInput(
                    "the prompt does not fit the data",
                    [Problem(f"placeholder {exc} is not a column", field="parameters.prompt")],
                ) from exc
            messages = [{"role": "user", "content": prompt}]
            if isinstance(version.parameters.get("system"), str):
                messages.insert(0, {"role": "system", "content": version.parameters["system"]})
            body = {
                "model": version.parameters.get("model", version.name),
                "messages": messages,
                "temperature": 0,
            }
            async with limit:
                reply = await _post(client, url, body)
            try:
                answers[index] = str(reply["choices"][0]["message"]["content"]).strip()
            except (KeyError, IndexError, TypeError) as exc:
                raise InvalidInput(
                    f"the endpoint {url} did not answer as a chat completion",
                    [Problem("expected choices[0].message.content", field="uri")],
                ) from exc
            done += 1
            progress(done, len(records))

        await asyncio.gather(*(ask(i, r) for i, r in enumerate(records)))
    return Predictions(labels=list(answers), scores=None)


def columns_needed(version: ModelVersion, columns: Sequence[str], exclude: set[str]) -> list[str]:
    """The columns a called model receives: all but the label, predictions and segments, by default."""
    return [c for c in columns if c not in exclude]
