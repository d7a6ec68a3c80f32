"""The control plane under `/_sandbox/`: the Python API of `Simulator`, over HTTP.

A standalone simulator (`truthscan-mcp sandbox --port N`) runs in another process than the
test or benchmark driving it, so faults, credits, config and stats must be reachable over
HTTP too. These routes are not part of TruthScan's API and are never counted in the stats.
"""

from __future__ import annotations

import json
from typing import cast

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from truthscan_mcp.sandbox.faults import FaultRule
from truthscan_mcp.sandbox.responses import read_json_model, validation_error
from truthscan_mcp.sandbox.simulator import Simulator

_RULES = TypeAdapter(list[FaultRule] | FaultRule)


class CreditsRequest(BaseModel):
    key: str = Field(min_length=1)
    base: int = Field(ge=0)
    boost: int = Field(default=0, ge=0)


class ControlPlane:
    """The control routes, bound to one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/faults", self.add_faults, methods=["POST"]),
            Route("/_sandbox/faults", self.list_faults, methods=["GET"]),
            Route("/_sandbox/faults", self.clear_faults, methods=["DELETE"]),
            Route("/_sandbox/stats", self.stats, methods=["GET"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
            Route("/_sandbox/config", self.get_config, methods=["GET"]),
            Route("/_sandbox/config", self.patch_config, methods=["PATCH"]),
            Route("/_sandbox/credits", self.set_credits, methods=["POST"]),
            Route("/_sandbox/queries", self.queries, methods=["GET"]),
        ]

    async def add_faults(self, request: Request) -> Response:
        wrapped = await _read_any(request)
        if isinstance(wrapped, JSONResponse):
            return wrapped
        try:
            parsed = _RULES.validate_python(wrapped)
        except ValidationError as exc:
            return _invalid(exc)
        for rule in parsed if isinstance(parsed, list) else [parsed]:
            self._sim.add_fault(rule)
        return self._faults()

    async def list_faults(self, request: Request) -> Response:
        return self._faults()

    async def clear_faults(self, request: Request) -> Response:
        self._sim.clear_faults()
        return self._faults()

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self._sim.stats.model_dump(mode="json"))

    async def reset(self, request: Request) -> Response:
        self._sim.reset()
        return JSONResponse({"status": "reset"})

    async def get_config(self, request: Request) -> Response:
        return JSONResponse(self._sim.config.model_dump(mode="json"))

    async def patch_config(self, request: Request) -> Response:
        patch = await _read_any(request)
        if isinstance(patch, JSONResponse):
            return patch
        if not isinstance(patch, dict):
            return validation_error(
                [{"type": "dict_type", "loc": ["body"], "msg": "Input should be an object"}]
            )
        try:
            # A JSON object's keys are always strings.
            merged = self._sim.configure(cast("dict[str, object]", patch))
        except ValidationError as exc:
            return _invalid(exc)
        return JSONResponse(merged.model_dump(mode="json"))

    async def queries(self, request: Request) -> Response:
        """`?id=DOC`: when each `/query` about that document arrived, in seconds since its `/detect`."""
        document_id = request.query_params.get("id", "")
        return JSONResponse({"id": document_id, "ages": self._sim.query_ages(document_id)})

    async def set_credits(self, request: Request) -> Response:
        body = await read_json_model(request, CreditsRequest)
        if isinstance(body, JSONResponse):
            return body
        self._sim.set_credits(body.key, body.base, body.boost)
        return JSONResponse(
            {"baseCredits": body.base, "boostCredits": body.boost, "credits": body.base + body.boost}
        )

    def _faults(self) -> JSONResponse:
        return JSONResponse({"faults": [rule.model_dump(mode="json") for rule in self._sim.fault_rules()]})


async def _read_any(request: Request) -> object:
    """Any JSON value, or FastAPI's 422 when the body is not JSON."""
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return validation_error([{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}])


def _invalid(exc: ValidationError) -> JSONResponse:
    errors = exc.errors(include_input=False, include_url=False)
    return validation_error(
        [{"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in errors]
    )
