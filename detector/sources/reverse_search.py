"""Reverse image search per registered work: Google Cloud Vision web detection, the TinEye API and SerpApi's
Google Lens.

Each provider is a source of its own (`type = "vision"`, `"tineye"` or `"serpapi_lens"`), with its key, its monthly query
budget and its cadence per work: a work never asked about is asked at once, the others again once their
last query is `cadence_days` old (the cursor keeps when each work was last asked). Providers answer
with pages that show a matching image (page leads) and the matching image files themselves (image
leads), each with the work, the provider and the rank in the lead's provenance. Sources of these types
share one de-duplication: a URL any of them led to before is not handed on again.

A 429 or quota answer is retried with backoff a few times, then ends this run of the provider with one
recorded line; a refused key does too. A malformed answer costs only that work's query. The key comes
from `api_key` in config.toml or the provider's environment variable, and is scrubbed from every
message.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from detector.config import SourceConfig, Target
from detector.sources.base import Budget, Lead, SourceError, fetch_target

#: Sources of these types de-duplicate their leads together.
GROUP = ("vision", "tineye", "serpapi_lens")
_RETRIES = 3
_BACKOFF_S = 0.5


class RateLimited(Exception):
    """The provider asks to slow down (HTTP 429, quota per minute)."""


class Refused(Exception):
    """The provider will not answer this run: a bad key, an exhausted quota."""


@dataclass(frozen=True)
class Hit:
    url: str
    kind: str  # page, image
    what: str  # "page with a full matching image", ...
    detail: dict


class VisionProvider:
    name, env = "Google Cloud Vision web detection", "GOOGLE_VISION_API_KEY"

    def __init__(self, key: str, endpoint: str):
        with warnings.catch_warnings():  # google-api-core's notice about future Python versions, on every import
            warnings.simplefilter("ignore", FutureWarning)
            from google.cloud import vision

        options = {"api_key": key} | ({"api_endpoint": endpoint} if endpoint else {})
        self.vision = vision
        self.client = vision.ImageAnnotatorClient(client_options=options, transport="rest")

    def query(self, data: bytes, work_url: str | None) -> list[Hit]:
        from google.api_core import exceptions

        try:
            found = self.client.web_detection(image=self.vision.Image(content=data), timeout=60).web_detection
        except exceptions.TooManyRequests as e:
            raise RateLimited(str(e)) from e
        except (exceptions.Unauthenticated, exceptions.PermissionDenied, exceptions.ResourceExhausted) as e:
            raise Refused(f"{type(e).__name__}: {e}") from e
        hits = [Hit(p.url, "page", "page with a " + ("full" if p.full_matching_images else "partial") +
                    " matching image", {"page_title": p.page_title[:300],
                                        "images": [i.url for i in p.full_matching_images or p.partial_matching_images]})
                for p in found.pages_with_matching_images]
        hits += [Hit(i.url, "image", "full matching image", {"score": i.score}) for i in found.full_matching_images]
        hits += [Hit(i.url, "image", "partial matching image", {"score": i.score})
                 for i in found.partial_matching_images]
        return hits


class TinEyeProvider:
    """The TinEye search API (`POST {api_url}search/`, the image uploaded as `image_upload`, the key in the
    `x-api-key` header), through httpx: pytineye, TinEye's own client, pins urllib3 1.26.6 and a 2021
    certifi, which would hold back the whole install's TLS roots."""

    name, env = "TinEye", "TINEYE_API_KEY"
    #: A search answer of 100 matches is a few hundred kB; anything far beyond that is not one.
    MAX_ANSWER = 2_000_000

    def __init__(self, key: str, endpoint: str):
        self.url = (endpoint or "https://api.tineye.com/rest/").rstrip("/") + "/search/"
        self.key = key

    def query(self, data: bytes, work_url: str | None) -> list[Hit]:
        with httpx.stream("POST", self.url, headers={"x-api-key": self.key}, data={"limit": "100"},
                          files={"image_upload": ("work.jpg", data)}, timeout=60) as answer:
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > self.MAX_ANSWER:
                    raise ValueError(f"the answer is over {self.MAX_ANSWER} bytes; not read")
        if answer.status_code == 429:
            raise RateLimited("HTTP 429")
        reply = json.loads(body) if body.strip() else {}
        messages = "; ".join(str(m) for m in reply.get("messages") or []) if isinstance(reply, dict) else ""
        if answer.status_code in (401, 402, 403):
            raise Refused(f"HTTP {answer.status_code}: {messages or answer.reason_phrase}")
        if answer.status_code != 200 or not isinstance(reply, dict):
            raise ValueError(f"HTTP {answer.status_code}: {messages or 'not a search answer'}")
        hits = []
        for match in (reply.get("results") or {}).get("matches") or []:
            backlinks = [b for b in match.get("backlinks") or [] if isinstance(b, dict) and b.get("backlink")]
            for b in backlinks:
                hits.append(Hit(b["backlink"], "page", "page showing a match", {
                    "image_url": b.get("url") or match.get("image_url"), "score": match.get("score"),
                    "domain": match.get("domain")}))
            if not backlinks and match.get("image_url"):
                hits.append(Hit(match["image_url"], "image", "matching image", {"score": match.get("score")}))
        return hits


class LensProvider:
    """SerpApi's Google Lens engine: it searches by the image's public URL (`work_url`), not by its bytes."""

    name, env = "SerpApi Google Lens", "SERPAPI_API_KEY"

    def __init__(self, key: str, endpoint: str):
        import serpapi

        self.serpapi = serpapi
        self.client = serpapi.Client(api_key=key, timeout=60)
        if endpoint:
            self.client.BASE_DOMAIN = endpoint.rstrip("/")

    def query(self, data: bytes, work_url: str | None) -> list[Hit]:
        try:
            results = self.client.search({"engine": "google_lens", "url": work_url})
        except self.serpapi.HTTPError as e:
            if e.status_code == 429:
                raise RateLimited(str(e.error or e)) from e
            if e.status_code in (401, 403):
                raise Refused(f"HTTP {e.status_code}: {e.error or e}") from e
            raise ValueError(f"HTTP {e.status_code}: {e.error or e}") from e
        error = results.get("error")
        if error and "hasn't returned any results" in error:
            return []
        if error:
            raise (Refused if "run out of searches" in error else ValueError)(error)
        return [Hit(m["link"], "page", "visual match", {"title": str(m.get("title", ""))[:300],
                                                       "image_url": m.get("image"), "source": m.get("source")})
                for m in results.get("visual_matches") or [] if isinstance(m, dict) and m.get("link")]


PROVIDERS = {"vision": VisionProvider, "tineye": TinEyeProvider, "serpapi_lens": LensProvider}


class ReverseSearchSource:
    repeat = False
    per_work = True  # due on every scan: the cadence applies to each work

    def __init__(self, config: SourceConfig, works: Callable[[], list[tuple[dict, bytes]]] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.kind = PROVIDERS[config.type]
        self.key = config.api_key or os.environ.get(self.kind.env, "")
        self.works = works
        self.sleep = sleep
        self.problems: list[str] = []
        self.group = GROUP

    @property
    def name(self) -> str:
        return self.config.name

    def _provider(self):
        if not self.key:
            raise SourceError(f"{self.name}: no API key; set api_key in its [[sources]] block or {self.kind.env}")
        if self.works is None:
            raise SourceError(f"{self.name}: reverse search needs the workspace's works")
        if self.kind is LensProvider and "{" not in self.config.work_url:
            raise SourceError(f"{self.name}: Google Lens searches by URL; set work_url = \"https://your.site/"
                              "{filename}\" (or {sha256}) to where your works are published")
        try:
            return self.kind(self.key, self.config.endpoint)
        except Exception as e:  # the client library refuses its options
            raise SourceError(self.scrub(f"{self.name}: the {self.kind.name} client cannot start: {e}")) from e

    def scrub(self, text: str) -> str:
        return text.replace(self.key, "***") if self.key else text

    def due_works(self, cursor: dict, now: datetime) -> list[tuple[dict, bytes]]:
        asked = cursor.get("asked", {})
        every = timedelta(days=self.config.cadence_days)
        return [(work, data) for work, data in self.works()
                if str(work["id"]) not in asked or now - datetime.fromisoformat(asked[str(work["id"])]) >= every]

    def leads(self, cursor: dict, budget: Budget) -> Iterator[Lead]:
        provider = self._provider()
        now = datetime.now(UTC)
        asked = cursor.setdefault("asked", {})
        due = self.due_works(cursor, now)
        for position, (work, data) in enumerate(due):
            if not budget.spend():
                self.problems.append(f"the monthly budget of {self.config.monthly_budget} queries is spent; "
                                     f"{len(due) - position} work(s) wait for next month")
                return
            try:
                hits = self._ask(provider, work, data)
            except Refused as e:
                raise SourceError(self.scrub(f"{self.kind.name} refused the query ({e}); this run stops")) from e
            except RateLimited as e:
                raise SourceError(self.scrub(f"{self.kind.name} still asks to slow down after {_RETRIES} retries "
                                             f"({e}); the remaining works are asked next run")) from e
            except Exception as e:  # noqa: BLE001 - the clients raise many types for a malformed body; it costs one work
                self.problems.append(self.scrub(f"work {work['id']}: the {self.kind.name} answer was not usable "
                                                f"({type(e).__name__}: {str(e)[:200]})"))
                continue
            asked[str(work["id"])] = now.isoformat()
            for rank, hit in enumerate(hits, start=1):
                yield Lead(hit.url, hit.kind, self.kind.name,
                           f"query for work {work['id']} ({work['filename']}): {hit.what}, rank {rank}",
                           {"provider": self.config.type, "work_id": work["id"], "rank": rank, **hit.detail})

    def work_url(self, work: dict) -> str | None:
        template = self.config.work_url
        return template.format(sha256=work["sha256"], filename=work["filename"]) if template else None

    def _ask(self, provider, work: dict, data: bytes) -> list[Hit]:
        for attempt in range(_RETRIES + 1):
            try:
                return provider.query(data, self.work_url(work))
            except RateLimited:
                if attempt == _RETRIES:
                    raise
                self.sleep(_BACKOFF_S * 2 ** attempt)
        raise AssertionError("unreachable")

    def estimate(self, cursor: dict, budget_left: int | None) -> str:
        due = len(self.due_works(cursor, datetime.now(UTC)))
        left = "no cap" if budget_left is None else f"{budget_left} left this month"
        return f"next run: {due} work(s) due, {due} quer{'y' if due == 1 else 'ies'} ({left})"

    def check(self, budget: Budget) -> list[str]:
        provider = self._provider()
        works = self.works()
        if not works:
            return ["key present; no registered works to query"]
        if not budget.spend():
            raise SourceError(f"{self.name}: the monthly budget is spent; no query made")
        work, data = works[0]
        try:
            hits = self._ask(provider, work, data)
        except (Refused, RateLimited) as e:
            raise SourceError(self.scrub(f"{self.kind.name}: {e}")) from e
        return [f"one query for work {work['id']}: {len(hits)} result(s)"]

    def targets(self, leads: list[Lead]) -> list[Target]:
        return [fetch_target(self.name, leads, self.config.allow_private)]
