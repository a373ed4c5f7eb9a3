"""Per-address request limits of the public offer page and the payment webhook, kept by `limits`.

A sliding window of one minute per client address (the window's counters weighted, so a burst at
a window's edge is not let through twice). The counters live in `portal.rate_limit_storage`: empty
for this process's memory, where each counter is dropped once its window has passed (so a client
rotating addresses cannot grow it without bound), or a `redis://` URL, shared by every portal
process, where each counter key carries the same expiry.

The client address is the TCP peer: X-Forwarded-For is believed only from `portal.trusted_proxies`
(uvicorn's ProxyHeadersMiddleware, applied in create_app), so no client picks its own address.
"""

from __future__ import annotations

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from detector.errors import ConfigError


class PerAddress:
    """At most `per_window` requests per address in any sliding window of `window_s` seconds."""

    def __init__(self, per_window: int, storage_url: str = "", window_s: int = 60):
        try:
            self.storage = storage_from_string(storage_url) if storage_url else MemoryStorage()
        except Exception as e:  # limits raises its own errors for an unknown scheme or a missing driver
            raise ConfigError(f"portal.rate_limit_storage {storage_url!r} is not a storage the limits library "
                              f"opens ({type(e).__name__}: {e}); use \"\" (memory) or redis://HOST:PORT/DB.") from e
        self.item = RateLimitItemPerSecond(per_window, window_s)
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)

    def allow(self, address: str) -> bool:
        return self.limiter.hit(self.item, "offer-page", address)
