"""RFC 7807 problem details for every API error."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None,
                 violations: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.violations = violations or ([{"propertyPath": field, "message": detail}] if field else [])

    def response(self) -> JSONResponse:
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 409: "Conflict", 415: "Unsupported Media Type",
                  422: "Unprocessable Entity"}
        body: dict[str, Any] = {
            "type": "https://tools.ietf.org/html/rfc2616#section-10",
            "title": titles.get(self.status, "Error"),
            "status": self.status,
            "detail": f"{self.field}: {self.detail}" if self.field else self.detail,
        }
        if self.violations:
            body["violations"] = self.violations
        return JSONResponse(body, status_code=self.status, media_type="application/problem+json")


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, message, field=field)


def not_found(what: str = "Not Found") -> ApiError:
    return ApiError(404, what)
