"""Service errors as the Bedrock APIs return them: a code (botocore's ``Error.Code``) and a message. The
HTTP status of each code comes from botocore's service models (see ``protocol.error_status``)."""

from __future__ import annotations


class ServiceError(Exception):
    """An error the emulated service answers with. ``code`` is the exception shape's name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message)


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message)


def throttled(message: str = "Too many requests, please wait before trying again.") -> ServiceError:
    return ServiceError("ThrottlingException", message)


def not_ready(message: str) -> ServiceError:
    return ServiceError("ModelNotReadyException", message)


INVALID_MODEL_IDENTIFIER = "The provided model identifier is invalid."
