"""The crawl summary: what each target's crawl fetched, captured and refused, from its Scrapy stats."""

from __future__ import annotations

COUNTS = ("pages_fetched", "images_fetched", "from_cache", "candidates_added")


def target_summary(stats: dict) -> dict:
    """One target's summary from its crawler's stats (the `copyhound/...` keys the spider sets)."""
    refusals = {
        key.rsplit("/", 1)[1]: value
        for key, value in stats.items()
        if key.startswith("copyhound/refusals/")
    }
    caps = sorted(key.rsplit("/", 1)[1] for key in stats if key.startswith("copyhound/caps/"))
    return {
        **{name: int(stats.get(f"copyhound/{name}", 0)) for name in COUNTS},
        "refusals": dict(sorted(refusals.items())),
        "caps_hit": caps,
        "errors": list(stats.get("copyhound/errors", [])),
        "finish_reason": stats.get("finish_reason"),
    }


def combine(per_target: dict[str, dict]) -> dict:
    """The whole crawl's summary: totals over targets, plus each target's own summary.

    Keys: pages_fetched, images_fetched, from_cache, candidates_added (ints); refusals
    ({reason: count}); caps_hit ({target: [cap, ...]} for targets that hit one); errors (list of
    "target: message"); complete (every target's crawl finished rather than being stopped);
    targets ({name: target summary}).
    """
    refusals: dict[str, int] = {}
    for summary in per_target.values():
        for reason, count in summary["refusals"].items():
            refusals[reason] = refusals.get(reason, 0) + count
    return {
        **{name: sum(s[name] for s in per_target.values()) for name in COUNTS},
        "refusals": dict(sorted(refusals.items())),
        "caps_hit": {name: s["caps_hit"] for name, s in per_target.items() if s["caps_hit"]},
        "errors": [f"{name}: {error}" for name, s in per_target.items() for error in s["errors"]],
        "complete": all(s["finish_reason"] == "finished" for s in per_target.values()),
        "targets": per_target,
    }
