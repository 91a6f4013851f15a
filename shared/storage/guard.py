"""One place per backend where driver exceptions become domain errors.

`@domain_errors(translate)` wraps every public coroutine method of a backend
class (and its `open` classmethod): an exception `translate` recognises is
raised again as the domain error it returns (the original chained as its
cause, for the logs); anything else, domain errors included, passes unchanged.
So callers (the API's error mapping, the job worker) never see sqlite3 or
pymongo exceptions, and a new method is covered without a try of its own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import Invalid

T = TypeVar("T", bound=type)

Translate = Callable[[Exception], Exception | None]

# Text with lone surrogates cannot be encoded as UTF-8, which both backends store.
UNSTORABLE_TEXT = "Invalid text: not valid Unicode"


def unstorable_text(exc: Exception) -> Exception | None:
    """Invalid for text a backend cannot encode (the driver raises UnicodeEncodeError)."""
    return Invalid(UNSTORABLE_TEXT) if isinstance(exc, UnicodeEncodeError) else None


def _guarded(method: Callable[..., Any], translate: Translate) -> Callable[..., Any]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except Exception as exc:
            domain = translate(exc)
            if domain is None:
                raise
            raise domain from exc

    return guarded


def domain_errors(translate: Translate) -> Callable[[T], T]:
    """Class decorator: every public `async def` (and `open`) raises through `translate`."""

    def decorate(cls: T) -> T:
        for name, attr in list(vars(cls).items()):
            if name.startswith("_"):
                continue
            if isinstance(attr, classmethod) and inspect.iscoroutinefunction(attr.__func__):
                setattr(cls, name, classmethod(_guarded(attr.__func__, translate)))
            elif inspect.iscoroutinefunction(attr):
                setattr(cls, name, _guarded(attr, translate))
        return cls

    return decorate
