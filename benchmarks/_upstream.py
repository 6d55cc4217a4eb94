"""The servers the gateway benchmark measures against, each run by uvicorn in a process of its own.

`model` is the loopback model: `POST /predict` with `{"instances": [...]}` answers
`{"predictions": [...], "scores": [...]}`, doing as little as a JSON endpoint can, so its cost is the
same whether it is called directly or through the gateway. `passthrough` is the floor DESIGN.md
speaks of: a bare FastAPI app that takes the gateway's body, forwards the input to the model with
one shared aiohttp session (the gateway's client), and returns the answer; no token, no redaction, no journal.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

# The passthrough reads its model's URL from here (uvicorn's factory takes no arguments).
MODEL_URL_VARIABLE = "PHASEGATE_BENCH_MODEL_URL"


async def _predict(request: Request) -> JSONResponse:
    instances = (await request.json())["instances"]
    amounts = [float(i.get("amount", 0)) for i in instances]
    return JSONResponse(
        {
            "predictions": ["review" if a > 1000 else "approve" for a in amounts],
            "scores": [0.62 if a > 1000 else 0.93 for a in amounts],
        }
    )


async def _health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


model = Starlette(routes=[Route("/predict", _predict, methods=["POST"]), Route("/health", _health)])


def passthrough() -> FastAPI:
    """A bare FastAPI passthrough to the model, built by uvicorn with `--factory`."""
    url = os.environ[MODEL_URL_VARIABLE]
    clients: list[aiohttp.ClientSession] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The same client and pool as the gateway's, so the two differ only in what they do per request.
        connector = aiohttp.TCPConnector(limit=200, limit_per_host=200)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=10)
        ) as client:
            clients.append(client)
            yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/predict")
    async def predict(body: dict[str, Any]) -> dict[str, Any]:
        async with clients[0].post(url, json={"instances": [body["input"]]}) as response:
            reply = await response.json()
        return {"output": reply["predictions"][0], "confidence": reply["scores"][0]}

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app
