"""What every API request passes before a route sees it: the bearer key, then the body-size limit.

Pure ASGI, so an oversized body is refused from its Content-Length before it is read, and a body
sent without one (chunked) is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import hmac

from minisora.serve.errors import APIError


class BodyTooLarge(APIError):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit} bytes", "request_too_large")


class Guard:
    """Wraps the app: API paths (/v1/...) need `Authorization: Bearer <api_key>` when a key is set,
    compared in constant time; every request body is limited to `max_body` bytes."""

    def __init__(self, app, api_key: str | None, max_body: int):
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])  # lower-case byte names (ASGI)
        error = self._check(scope["path"], headers)
        if error is not None:
            return await error.response()(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)  # answered by the app's APIError handler
            return message

        await self.app(scope, limited_receive, send)

    def _check(self, path: str, headers: dict[bytes, bytes]) -> APIError | None:
        if self.key is not None and (path == "/v1" or path.startswith("/v1/")):
            auth = headers.get(b"authorization", b"")
            scheme, _, given = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not given:
                return APIError(401, "missing API key: send the header 'Authorization: Bearer <key>' "
                                     "(the key given to `minisora serve --api-key`)", "missing_api_key")
            if not hmac.compare_digest(given.strip(), self.key):
                return APIError(401, "incorrect API key", "invalid_api_key")
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return APIError(400, f"Content-Length {length[:40].decode('latin-1')!r} is not a number",
                                "invalid_request")
            if int(length) > self.max_body:
                return BodyTooLarge(self.max_body)
        return None
