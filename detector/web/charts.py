"""The dashboard's charts, drawn on the server as SVG: readable without JavaScript, with a title,
a description and the numbers as text beside every bar, in a palette safe for colour-blind readers.

A chart is a list of labelled bars, each a stack of series; the template `_chart.html` draws it
from the geometry computed here (in viewBox units), and lists the same numbers in a table. The
viewBox is about as wide as a chart is shown (a third of a desktop page, or a phone), so its 12-unit
text reads at 11 px or more; labels and the numbers after the bars get the room their text needs
(labels longer than LABEL_CHARS are shortened, in full in their tooltip), so no text is clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from detector.licensing.offers import STATUSES as OFFER_STATUSES
from detector.licensing.offers import amount_due
from detector.workspace.store import DECISIONS, Store

WIDTH = 360
#: Width of a character of the 12-unit text, generously (digits and most letters are narrower).
CHAR = 7.2
LABEL_CHARS = 18
ROW = 24
BAR = 17
WEEKS = 12
TOP_SITES = 8


@dataclass(frozen=True)
class Segment:
    series: str
    value: int
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    label: str          # as shown (shortened to LABEL_CHARS)
    full_label: str
    total: int
    note: str           # shown after the bar, e.g. the amount of money behind it
    y: float
    segments: list[Segment]

    @property
    def value(self) -> str:
        return value_text(self.total, self.note)


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    series: list[str]   # legend order; each series has its own colour class in portal.css
    bars: list[Bar]
    label_width: float

    @property
    def height(self) -> int:
        return ROW * max(1, len(self.bars)) + 8

    width = WIDTH


def chart(id: str, title: str, description: str, series: list[str],
          rows: list[tuple[str, dict[str, int], str]]) -> Chart:
    """Bars scaled to the largest total; `rows` are (label, value per series, note)."""
    labels = [_shortened(label) for label, _, _ in rows]
    label_width = CHAR * max([len(label) for label in labels] + [4]) + 8
    values_width = CHAR * max([len(value_text(sum(v.values()), note)) for _, v, note in rows] + [1]) + 10
    span = max(WIDTH - label_width - values_width, 40)
    top = max([sum(values.values()) for _, values, _ in rows] + [1])
    bars = []
    for i, (label, values, note) in enumerate(rows):
        x, segments = float(label_width), []
        for name in series:
            value = values.get(name, 0)
            if value:
                width = span * value / top
                segments.append(Segment(name, value, round(x, 1), round(width, 1)))
                x += width
        bars.append(Bar(labels[i], label, sum(values.values()), note, 4 + i * ROW, segments))
    return Chart(id, title, description, series, bars, round(label_width, 1))


def value_text(total: int, note: str) -> str:
    """What follows a bar: its total, and its note when it has one."""
    return f"{total} · {note}" if note else str(total)


def _shortened(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def _weeks(now: datetime) -> list[str]:
    """The last WEEKS week keys, oldest first, as SQLite's strftime('%Y-%W') writes them."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=12, minute=0, second=0, microsecond=0)
    return [(monday - timedelta(weeks=k)).strftime("%Y-%W") for k in range(WEEKS - 1, -1, -1)]


def matches_per_week(store: Store, owner_id: int | None, now: datetime | None = None) -> Chart:
    counts: dict[str, dict[str, int]] = {}
    for row in store.matches_per_week(owner_id, WEEKS):
        counts.setdefault(row["week"], {})[row["decision"]] = row["matches"]
    rows = [(f"week {week[5:]}, {week[:4]}", counts.get(week, {}), "") for week in _weeks(now or datetime.now(UTC))]
    return chart("weeks", f"Matches found per week, last {WEEKS} weeks",
                 "Matches first seen each week, split by the detector's decision: match (certain) or review "
                 "(a person should look).", list(DECISIONS), rows)


def top_sites(store: Store, owner_id: int | None) -> Chart:
    sites, _ = store.sites(owner_id, TOP_SITES, 0)
    rows = [(s["host"], {"unreviewed": s["unreviewed"], "confirmed": s["confirmed"],
                         "other": s["matches"] - s["unreviewed"] - s["confirmed"]}, "") for s in sites]
    return chart("sites", f"Top {TOP_SITES} sites by matches",
                 "Sites with the most matches, split into unreviewed, confirmed copies and the rest "
                 "(rejected or licensed).", ["unreviewed", "confirmed", "other"], rows)


def offers_by_status(store: Store, owner_id: int | None) -> Chart:
    """Offers per status; the note adds up their amounts per currency (accepted: what is due)."""
    counts: dict[str, int] = {}
    sums: dict[str, dict[str, Decimal]] = {}
    for offer in store.offer_totals(owner_id):
        counts[offer["status"]] = counts.get(offer["status"], 0) + 1
        per_currency = sums.setdefault(offer["status"], {})
        value = Decimal(amount_due(offer) or offer["amount"])
        per_currency[offer["currency"]] = per_currency.get(offer["currency"], Decimal(0)) + value
    rows = [(status, {status: counts.get(status, 0)},
             ", ".join(f"{c} {v}" for c, v in sorted(sums.get(status, {}).items()))) for status in OFFER_STATUSES]
    return chart("offers", "Licensing offers by status",
                 "How many offers are drafts, sent, accepted, declined or expired, with the money behind them "
                 "(for accepted offers, the amount due).", list(OFFER_STATUSES), rows)


#: Whether a copy is still there, worst first: so a bar reads from what is left to do to what is done.
PRESENCE = ["up", "changed", "unreachable", "removed"]


def copies_removed(store: Store, owner_id: int | None) -> Chart:
    """Copies removed vs still up: all sites first, then the sites with the most copies."""
    per_site: dict[str, dict[str, int]] = {}
    for row in store.presence_by_site(owner_id):
        per_site.setdefault(row["host"], {})[row["presence"]] = row["copies"]
    everywhere: dict[str, int] = {}
    for counts in per_site.values():
        for presence, n in counts.items():
            everywhere[presence] = everywhere.get(presence, 0) + n
    busiest = sorted(per_site, key=lambda host: (-sum(per_site[host].values()), host))[:TOP_SITES]

    def note(counts: dict[str, int]) -> str:
        total = sum(counts.values())
        return f"{round(100 * counts.get('removed', 0) / total)}% removed" if total else ""

    rows = [("all sites", everywhere, note(everywhere))] + [(host, per_site[host], note(per_site[host]))
                                                            for host in busiest]
    return chart("presence", "Copies removed vs still up",
                 "What the latest scans saw of each copy, for all sites and the sites with the most copies: still "
                 "up, changed (other bytes at the URL), unreachable, or removed.", PRESENCE, rows)


def dashboard_charts(store: Store, owner_id: int | None) -> list[Chart]:
    return [matches_per_week(store, owner_id), top_sites(store, owner_id), copies_removed(store, owner_id),
            offers_by_status(store, owner_id)]
