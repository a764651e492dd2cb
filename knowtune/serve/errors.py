"""Every failure the API reports has OpenAI's shape: {"error": {message, type, param, code}}.

FastAPI's own shapes (validation `detail` lists, plain 404s) are replaced so that OpenAI
clients can read every error the same way.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("knowtune.serve")


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else self.headers
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def unauthorized() -> ApiError:
    return ApiError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    code="invalid_api_key")


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body is larger than {limit} bytes", code="request_too_large")


def queue_full(retry_after: int = 1) -> ApiError:
    return ApiError(429, f"the server is busy: too many requests are waiting; retry in {retry_after} s",
                    type="rate_limit_error", code="queue_full", headers={"Retry-After": str(retry_after)})


def timed_out(seconds: float) -> ApiError:
    return ApiError(504, f"the reply took longer than this server's limit of {seconds:g} s",
                    type="server_error", code="timeout")


def validation_error(err: RequestValidationError) -> ApiError:
    first = err.errors()[0] if err.errors() else {}
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', 'parse error')}",
                        code="invalid_json")
    # loc is ("body", field, ...) for body fields; the param is the dotted path after "body"
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if not loc:  # the body as a whole: missing, not an object, or not sent as JSON
        return ApiError(400, "the body must be a JSON object, sent with Content-Type: application/json",
                        code="invalid_json")
    param = ".".join(loc)
    return ApiError(400, f"{param}: {first.get('msg', 'invalid value')}", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError):
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError):
        return validation_error(err).response()

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException):
        if err.status_code == 413:  # a body without Content-Length, cut off while read
            return body_too_large(max_body_bytes).response()
        # 400 here is FastAPI failing to parse the body (bad UTF-8, JSON nested too deep)
        code = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}.get(err.status_code)
        return ApiError(err.status_code, str(err.detail), code=code).response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, err: Exception):
        log.exception("internal error while answering %s", request.url.path)
        return ApiError(500, "internal server error", type="server_error").response()
