"""Domain errors. Each carries a stable machine ``code`` and a translated human message."""

from __future__ import annotations


class DomainError(Exception):
    """A refused action: the request was understood but breaks a rule of the domain."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadToken(DomainError):
    """A bearer token or one-time link that is missing or does not match."""

    code = "bad_token"
    http_status = 401


class ActionForbidden(DomainError):
    code = "forbidden"
    http_status = 403


class IllegalTransition(DomainError):
    code = "illegal_transition"
    http_status = 409


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class IntakeRejected(DomainError):
    """An incoming question that cannot be stored (too long, empty, wrong session...)."""

    code = "intake_rejected"
    http_status = 422
