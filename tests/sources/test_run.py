"""`sources.run`: the runner stores leads and cursors, keeps a source within max_leads and its budget,
refuses leads that are not http(s), and records a failing source without stopping the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detector.config import SourceConfig
from detector.sources.base import Budget, Lead, SourceError, fetch_target
from detector.sources.run import due, gather
from detector.workspace.store import Store


class Numbered:
    """A source of `count` numbered pages; the cursor remembers the last number handed on."""

    repeat = False

    def __init__(self, name: str, count: int, max_leads: int = 500, fail: bool = False):
        self.config = SourceConfig(name=name, type="feed", max_leads=max_leads, monthly_budget=0)
        self.count, self.fail, self.problems = count, fail, []

    @property
    def name(self) -> str:
        return self.config.name

    def leads(self, cursor: dict, budget: Budget):
        if self.fail:
            raise SourceError("https://feeds.test/x: HTTP 503")
        yield Lead("ftp://files.test/1", "page", "test", "not fetchable")
        for n in range(cursor.get("last", 0) + 1, self.count + 1):
            cursor["last"] = n
            yield Lead(f"https://site.test/{n}", "page", "test", f"item {n}")

    def targets(self, leads):
        return [fetch_target(self.name, leads, False)]


def test_leads_cursor_cap_refusals_and_failures(tmp_path):
    store = Store(tmp_path / "copyhound.db")
    capped, broken = Numbered("capped", 5, max_leads=3), Numbered("broken", 5, fail=True)
    first = gather(store, [capped, broken])
    assert first.summary["capped"]["leads"] == 3 and "max_leads 3 reached" in first.summary["capped"]["problems"][0]
    assert "1 lead(s) refused: 'ftp://files.test/1'" in first.summary["capped"]["problems"][1]
    assert first.summary["broken"]["status"] == "failed" and "HTTP 503" in first.summary["broken"]["problems"][0]
    assert [t.start_urls for t in first.targets] == [tuple(f"https://site.test/{n}" for n in (1, 2, 3))]
    assert store.source_cursor("capped") == {}  # the cap kept the old (empty) cursor: the rest is found again

    second = gather(store, [Numbered("capped", 5, max_leads=3)])
    assert second.summary["capped"]["leads"] == 2  # 4 and 5; 1 to 3 were led to before
    assert store.source_cursor("capped") == {"last": 5}
    assert not due(store, Numbered("capped", 5), datetime.now(UTC))  # ran today, cadence one day
    assert due(store, Numbered("capped", 5), datetime.now(UTC) + timedelta(days=1, seconds=1))
    store.close()
