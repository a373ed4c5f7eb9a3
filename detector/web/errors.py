"""How the core's named exceptions answer over HTTP: one status per kind, the message as is.

NotFound is 404 for a missing id and for another owner's id alike, so ids cannot be probed.
"""

from __future__ import annotations

from detector.errors import (
    ActionRefused,
    CopyhoundError,
    EmbedderUnavailable,
    ImageRefused,
    NotFound,
    UsageError,
    WorkspaceLocked,
)

# Refusal reasons of detector.intake that mean "not an image type we take" rather than "a bad image".
_UNSUPPORTED_TYPE = {"not_image", "svg_unsupported", "unsupported_mode"}


def status_for(error: CopyhoundError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, ImageRefused):
        if error.reason == "too_large":
            return 413
        return 415 if error.reason in _UNSUPPORTED_TYPE else 400
    if isinstance(error, (ActionRefused, WorkspaceLocked)):
        return 409
    if isinstance(error, EmbedderUnavailable):
        return 503
    if isinstance(error, UsageError):
        return 422
    return 400


def body_for(error: CopyhoundError) -> dict:
    body = {"error": str(error)}
    if isinstance(error, ImageRefused):
        body["reason"] = error.reason
    return body
