"""Errors in OpenAI's JSON shape: {"error": {"message", "type", "param", "code"}}.

Every failure the server reports (bad input, unknown id, missing key, full queue, oversized body,
unknown route, an unexpected exception) goes through `APIError`, so clients see one shape and the
official SDK raises its typed exceptions (BadRequestError, NotFoundError, ...).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("minisora.serve")

# OpenAI's `type` field by status: the SDK keys on the status, people read the type.
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
          422: "invalid_request_error", 429: "rate_limit_error", 500: "server_error"}


class APIError(Exception):
    """An error answered as `status` with OpenAI's error body."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, code, param)


async def api_error_handler(request: Request, exc: APIError) -> JSONResponse:
    return exc.response()


async def http_error_handler(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method, malformed multipart) in the same shape."""
    codes = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request"}
    message = {404: f"no route {request.method} {request.url.path}",
               405: f"method {request.method} is not allowed on {request.url.path}"}.get(exc.status_code, exc.detail)
    status = exc.status_code if exc.status_code in _TYPES else 400
    return APIError(status, str(message), codes.get(exc.status_code, "invalid_request")).response()


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug answers 500 in the same shape and the server keeps serving; the traceback goes to the log."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return APIError(500, f"internal error: {type(exc).__name__}", "server_error").response()
