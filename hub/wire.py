"""What every API router shares on the wire: the error body, the error statuses an
operation documents, and input types that can always be stored.

- :class:`Error` is the body of every API error: ``{"code", "message"}``, plus ``detail``
  for a validation error (the fields that did not match) and ``retry_after`` for a 429.
- :func:`errors` builds the ``response={...}`` entries of an operation from the statuses it
  really answers with, so that the OpenAPI schema documents each one.
- :data:`Int64` is an integer a PostgreSQL ``bigint`` (every id here) can hold: a larger
  one is refused as invalid input (422) instead of failing in the database.
- :data:`StoredText` is a string without a NUL or a lone surrogate, which PostgreSQL
  cannot store (SQLite cannot encode a surrogate): refused with 422 (see
  :func:`hub.text.unstorable`).
- :class:`BodyParser` reads every JSON body of the API with :func:`hub.text.loads_json`:
  strict UTF-8, bounded depth and number sizes; what it refuses is a 400 with the code
  of :class:`hub.text.UnreadableJSON` (``bad_json``, ``too_deep``, ``bad_number``).
"""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Schema
from ninja.parser import Parser
from pydantic import AfterValidator, SerializerFunctionWrapHandler, model_serializer

from hub.text import loads_json, unstorable

#: The bounds of PostgreSQL's bigint (and of SQLite's integers).
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def _storable(value: str) -> str:
    if unstorable(value):
        raise ValueError("holds a NUL character or a lone surrogate, which cannot be stored")
    return value


StoredText = Annotated[str, AfterValidator(_storable)]


class Error(Schema):
    """An API error: a stable machine ``code`` and a message for people."""

    code: str = Field(description="Stable machine code, e.g. not_found, invalid, csrf")
    message: str = Field(description="What went wrong, in the request's language")
    detail: list[dict[str, Any]] | None = Field(
        None, description="Validation errors only: each field that did not match and why"
    )
    retry_after: int | None = Field(None, description="429 only: seconds to wait")

    @model_serializer(mode="wrap")
    def _without_absent_extras(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``detail`` and ``retry_after`` appear only when they say something: a plain
        error is exactly ``{"code", "message"}``."""
        data = handler(self)
        if isinstance(data, dict):
            for key in ("detail", "retry_after"):
                if data.get(key) is None:
                    data.pop(key, None)
        return data


def errors(*statuses: int) -> dict[int, type[Error]]:
    """``{status: Error}`` for ``response={200: Out, **errors(400, 404, 422)}``."""
    return dict.fromkeys(statuses, Error)


class BodyParser(Parser):
    """django-ninja's body parser, reading JSON as everything from outside is read.
    Ninja turns the :class:`hub.text.UnreadableJSON` raised here into a 400 whose
    ``__cause__`` it is (``hub.api`` answers with its code)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return loads_json(request.body)
