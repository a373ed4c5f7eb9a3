"""The evidence report of one match: a self-contained HTML page and a PDF.

Page 1 says what a lawyer or an abuse desk needs first: who claims, which work, where the copy
is, when it was seen, and why it is a copy, in one plain paragraph; then the registered work
beside the copy as fetched (the verified region outlined on the copy), the provenance of the
capture and the rights metadata of work and copy. The technical signals follow in appendices,
each named in words before its number, with every recorded signal as a table. Everything that came from the web is untrusted: the HTML
template autoescapes, web strings lose control and bidi characters (`oneline`), URLs are shown
as text and linked only when they are http(s), and a Content-Security-Policy forbids scripts
and any request (images are embedded as data: URIs).

A report states what the workspace holds, not when it was rendered: it carries no render
time, so the same evidence renders to the same bytes (bundles rely on this).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

import detector
from detector import cmi
from detector.config import Settings
from detector.credentials import Credentials, credentials_sentences, read_credentials, trust_anchors
from detector.errors import ImageRefused
from detector.evidence import explain
from detector.evidence.case import Case, environment, load_case
from detector.evidence.pdf import PdfRendererMissing, print_html
from detector.evidence.region import Regions, matched_regions
from detector.evidence.rights_signals import site_declared
from detector.intake import decode_image
from detector.text import oneline
from detector.workspace import Workspace
from detector.workspace.store import Store

_OUTLINE = (230, 30, 30)
_WINDOW = (30, 110, 230)


@dataclass(frozen=True)
class Picture:
    """A displayed image: PNG bytes at `shown` size; width/height are the full upright size."""

    png: bytes
    shown: tuple[int, int]
    width: int
    height: int
    note: str

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _display(image: Image.Image, side: int) -> Image.Image:
    shown = image.copy()
    shown.thumbnail((side, side), Image.Resampling.LANCZOS)
    return shown


def _png(image: Image.Image) -> bytes:
    """Lossless, so the drawn outline stays crisp (JPEG smears thin red lines into the photo)."""
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _pictures(case: Case, settings: Settings) -> tuple[Picture | None, Picture | None, dict | None, str | None,
                                                     Regions | None, str | None]:
    """(work picture, copy picture, copy rights, why a picture is missing, matched regions, colour change
    finding); the matched region is drawn on both pictures."""
    side = settings.evidence.thumbnail_side
    work = copy = problem = None
    if case.work_bytes is not None:
        try:
            work = decode_image(case.work_bytes, case.asset["filename"], settings.intake)
        except ImageRefused as e:
            problem = f"the registered file no longer decodes: {e}"
    if case.copy_bytes is None:
        problem = "the captured bytes are not in the workspace's blob store"
    else:
        try:
            copy = decode_image(case.copy_bytes, "captured copy", settings.intake)
        except ImageRefused as e:
            problem = f"the captured bytes do not decode ({e.reason}: {e.detail})"
    signals = case.match.get("signals") or {}
    regions = None if copy is None else matched_regions(
        (signals.get("verification") or {}).get("transform"),
        (case.asset["width"], case.asset["height"]), (copy.width, copy.height))
    work_pic = None
    if work is not None:
        shown = _display(work.image, side)
        note = "registered work"
        if regions is not None:
            _draw_polygon(shown, regions.in_work, (work.width, work.height), _OUTLINE)
            note = ("red outline: the part of the work the copy shows" if regions.work_share < 0.995
                    else "red outline: the copy shows the whole work")
        work_pic = Picture(_png(shown), shown.size, work.width, work.height, note)
    if copy is None:
        return work_pic, None, None, problem, None, None
    colour = explain.colour_change(work.image, copy.image) if work is not None else None
    shown = _display(copy.image, side)
    note = _draw_copy_region(shown, signals, regions, (copy.width, copy.height))
    copy_pic = Picture(_png(shown), shown.size, copy.width, copy.height, note)
    return work_pic, copy_pic, copy.rights.as_dict(), problem, regions, colour


def _draw_polygon(shown: Image.Image, polygon, full_size: tuple[int, int], colour) -> None:
    """Draw `polygon` (full-size pixels) on the displayed image, kept inside it so that an edge along
    the image's border stays visible."""
    width = max(3, round(min(shown.size) / 100))
    sx, sy = shown.width / full_size[0], shown.height / full_size[1]
    inset = width / 2

    def fit(v, limit):
        return min(max(v, inset), limit - inset)

    points = [(fit(x * sx, shown.width), fit(y * sy, shown.height)) for x, y in polygon]
    ImageDraw.Draw(shown).line(points + points[:1], fill=colour, width=width, joint="curve")


def _draw_copy_region(shown: Image.Image, signals: dict, regions: Regions | None, copy_size: tuple[int, int]) -> str:
    """Draw what matched onto the displayed copy; returns a sentence saying what was drawn."""
    if regions is not None:
        _draw_polygon(shown, regions.in_copy, copy_size, _OUTLINE)
        return ("red outline: where the work sits in the copy" +
                (" (cut at the copy's edges: the copy shows only part of the work)" if regions.cut else ""))
    region = signals.get("clip_region")
    if isinstance(region, (list, tuple)) and len(region) == 4 and all(isinstance(v, (int, float)) for v in region):
        x0, y0, x1, y1 = region
        _draw_polygon(shown, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], copy_size, _WINDOW)
        return "blue box: the window of the copy whose embedding matched best (no verified transform)"
    if signals.get("sha256_equal"):
        return "the copy is byte-identical to the registered file"
    return "no region to draw: the match carries no transform"


_SCREENSHOT_SIDE = 1000


def _screenshot(case: Case) -> tuple[Picture | None, list[tuple[str, object, str]]]:
    """The page's screenshot, scaled to fit the report, and what it records."""
    shot = case.screenshot
    if shot is None:
        return None, []
    rows = [
        ("Taken (UTC)", shot["taken_at"], "text"), ("Page URL", shot["page_url"], "url"),
        ("Final URL (after redirects)", shot["final_url"] if shot["final_url"] != shot["page_url"] else None, "url"),
        ("Browser", shot["browser"], "text"),
        ("Viewport", f"{shot['viewport_width']} x {shot['viewport_height']} CSS px", "text"),
        ("User agent", shot["user_agent"], "code"),
        ("Screenshot", f"{shot['width']} x {shot['height']} px, {shot['byte_size']} bytes"
         + (" (the page is longer: cut at report.max_screenshot_height)" if shot["cut"] else ""), "text"),
        ("SHA-256 of the PNG", shot["sha256"], "code"),
        ("WARC record", f"{shot['warc_file']} @ byte {shot['warc_offset']}, {shot['warc_record_id']}", "code"),
        ("WARC block digest", shot["warc_digest"], "code"),
        ("Requests refused", shot["detail"], "web"),
    ]
    rows = [row for row in rows if row[1] not in (None, "")]
    if case.screenshot_bytes is None:
        return None, rows
    image = Image.open(io.BytesIO(case.screenshot_bytes)).convert("RGB")
    shown = image.copy()
    shown.thumbnail((_SCREENSHOT_SIDE, shown.height), Image.Resampling.LANCZOS)
    note = f"the page at {shot['page_url']} as headless Chromium showed it, {shot['taken_at']} UTC"
    return Picture(_png(shown), shown.size, image.width, image.height, note), rows


def _rows_work(case: Case) -> list[tuple[str, object, str]]:
    a = case.asset
    return [
        ("Work id", a["id"], "text"), ("Title", a.get("title"), "text"), ("Creator", a.get("creator"), "text"),
        ("Owner", case.owner.get("legal_name") or case.owner["name"], "text"),
        ("File name", a["filename"], "text"), ("SHA-256", a["sha256"], "code"),
        ("Size", f"{a['width']} x {a['height']} px, {a['byte_size']} bytes, {a['format']}", "text"),
        ("Licence URL", a.get("license_url"), "url") if a.get("license_url") else ("Licence URL", "none given", "text"),
        ("Registered (UTC)", a["registered_at"], "text"),
    ]


def _rows_summary(case: Case) -> list[tuple[str, object, str]]:
    """Page 1: who claims, which work, where the copy is and when it was seen."""
    owner, a, m = case.owner, case.asset, case.match
    claimant = owner.get("legal_name") or owner["name"]
    if owner.get("email"):
        claimant += f" <{owner['email']}>"
    work = (f"\u201c{a['title']}\u201d" if a.get("title") else a["filename"]) + f" (work {a['id']}"
    work += f", by {a['creator']})" if a.get("creator") else ")"
    seen = f"first {m['first_seen']}, last {m['last_seen']} (UTC)"
    seen += f", {m['sightings']} sightings" if (m.get("sightings") or 0) > 1 else ""
    review = {"confirmed": "confirmed as a copy by a reviewer", "new": "not yet reviewed by a person",
              "rejected": "rejected by a reviewer", "authorized": "a licensed use"}.get(m["status"], m["status"])
    if m.get("reviewed_at") and m["status"] != "new":
        review += f" on {m['reviewed_at']}"
    return [("Claimant", claimant, "text"), ("Work", work, "text"), ("Copy found on", m["page_url"], "url"),
            ("Image of the copy", m["image_url"], "url"), ("Seen", seen, "text"),
            ("Review", review, "text")]


def _rows_signals(match: dict) -> list[tuple[str, object, str]]:
    s = match.get("signals") or {}
    v = s.get("verification") or {}

    def num(value, digits=3):
        return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    def yes(value):
        return None if value is None else ("yes" if value else "no")

    rows = [
        ("Decision, with its score from 0 to 1", f"{match['decision']} (score {num(match['score'])})", "text"),
        ("Review status", match["status"] + (f" - {match['note']}" if match.get("note") else ""), "text"),
        ("Same file, byte for byte (SHA-256)", yes(s.get("sha256_equal")), "text"),
        ("Bits in which the perceptual fingerprints differ, of 64 (pHash)", s.get("phash_distance"), "text"),
        ("Bits in which the gradient fingerprints differ, of 64 (dHash)", s.get("dhash_distance"), "text"),
        ("Bits in which the perceptual fingerprints differ, of 256 (PDQ)", s.get("pdq_distance"), "text"),
        ("Fingerprints agree once the copy is mirrored back", yes(s.get("hash_mirrored")), "text"),
        ("Image-recognition similarity, 1 is the same picture (embedding cosine)", num(s.get("clip_cosine")), "text"),
        ("Found as a candidate by", ", ".join(map(str, s.get("shortlisted_by") or [])) or None, "text"),
        ("Distinctive points confirmed in the same arrangement (geometric verification)", yes(v.get("verified")),
         "text"),
        ("How they were compared (method)", v.get("method"), "text"),
        ("Points of the work with one clear counterpart in the copy (ratio-test matches)", v.get("good_matches"),
         "text"),
        ("Of those, points in the same arrangement (RANSAC inliers)", v.get("inliers"), "text"),
        ("Share of points in the same arrangement (inlier ratio)", num(v.get("inlier_ratio")), "text"),
        ("Share of the work's area the copy shows", num(v.get("asset_coverage")), "text"),
        ("Share of the copy's area the work fills", num(v.get("candidate_coverage")), "text"),
        ("Agreement of the brightness patterns in grey, 1 is identical (normalised cross-correlation)",
         num(v.get("ncc")), "text"),
        ("The copy is mirrored", yes(v.get("mirrored")), "text"), ("Verifier's reason", v.get("reason"), "text"),
    ]
    return [row for row in rows if row[1] is not None]


def _rows_provenance(case: Case) -> list[tuple[str, object, str]]:
    m, c = case.match, case.candidate or {}

    def warc(file, offset):
        return f"{file} @ byte {offset}" if file else None

    size = None
    if c.get("declared_width") or c.get("declared_height"):
        size = f"{c.get('declared_width') or '?'} x {c.get('declared_height') or '?'} px (declared in the page)"
    rows = [
        ("Page URL", m["page_url"], "url"), ("Page title", c.get("page_title"), "web"),
        ("Alt text", c.get("alt_text"), "web"), ("Caption", c.get("caption"), "web"),
        ("Image URL", m["image_url"], "url"), ("Final URL (after redirects)", c.get("final_url"), "url"),
        ("Fetched (UTC)", c.get("fetched_at"), "text"), ("HTTP status", c.get("http_status"), "text"),
        ("Discovered (UTC)", c.get("discovered_at"), "text"),
        ("Scan / target", f"scan {c['scan_id']}, target {c['target']}" if c else None, "web"),
        ("Found by", found_by(c.get("lead")), "web"),
        ("Displayed size", size, "text"),
        ("SHA-256 of captured bytes", m["sha256"], "code"), ("Captured size", _bytes(c.get("byte_size")), "text"),
        ("Sniffed format", c.get("sniffed_format"), "text"),
        ("WARC record of the image", warc(c.get("warc_file"), c.get("warc_offset")), "code"),
        ("WARC record of the page", warc(c.get("page_warc_file"), c.get("page_warc_offset")), "code"),
        ("First seen (UTC)", m["first_seen"], "text"), ("Last seen (UTC)", m["last_seen"], "text"),
        ("Sightings", m["sightings"], "text"),
    ]
    return [row for row in rows if row[1] not in (None, "")]


def found_by(lead: dict | None) -> str | None:
    """How the copy was found, in one line: the source's finder and its reason (detector.sources)."""
    if not lead:
        return None
    return f"{lead['found_by']} ({lead['kind']} lead {lead['url']}): {lead['why']}"


def plain(value) -> str:
    """A recorded value as a reader takes it in: numbers to 4 decimals (no 1e-08), lists bracketed, rows of
    a matrix parted by ' / '."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, list):
        if value and all(isinstance(row, list) for row in value):
            return " / ".join(plain(row) for row in value)
        return "[" + ", ".join(plain(item) for item in value) + "]"
    return str(value)


def _rows_recorded(signals: dict, prefix: str = "") -> list[tuple[str, object, str]]:
    """Every recorded signal as a row, nested ones named by their path (verification / inliers)."""
    rows = []
    for key in sorted(signals):
        value = signals[key]
        name = f"{prefix}{key.replace('_', ' ')}"
        if isinstance(value, dict) and value:
            rows += _rows_recorded(value, f"{name} / ")
        else:
            rows.append((name, plain(value) if not isinstance(value, dict) else "-", "text"))
    return rows


def _bytes(size) -> str | None:
    return None if size is None else f"{size} bytes"


def _rows_software(match: dict) -> list[tuple[str, object, str]]:
    s = match.get("signals") or {}
    return [
        ("Detected by", s.get("software") or "not recorded", "text"),
        ("Embedder", s.get("embedder") or "not recorded", "code"),
        ("Thresholds", ", ".join(f"{k} {plain(v)}" for k, v in sorted(s["thresholds"].items()))
         if isinstance(s.get("thresholds"), dict) else "not recorded", "text"),
        ("Report made by", f"copyhound {detector.__version__}", "text"),
    ]


@dataclass(frozen=True)
class Report:
    """What a report shows, computed once and rendered to HTML; the PDF is printed from that HTML."""

    case: Case
    work: Picture | None
    copy: Picture | None
    picture_problem: str | None
    why: list[str]
    rights: list[cmi.RightsRow]
    cmi_removed: list[str]
    credentials_found: list[str]
    credentials: list[tuple[str, Credentials]]
    summary: list[tuple[str, object, str]]
    sections: list[tuple[str, list[tuple[str, object, str]]]]
    appendices: list[tuple[str, list[tuple[str, object, str]]]]
    headers: list[tuple[str, str]]
    paper: str
    screenshot: Picture | None = None
    screenshot_rows: list[tuple[str, object, str]] = field(default_factory=list)
    rights_carried: list[str] = field(default_factory=list)  # what the work carried (detector.cmi)
    site_declared: list[str] = field(default_factory=list)  # what the copy's site declared (rights_signals)

    @property
    def title(self) -> str:
        return f"Evidence report: match {self.case.match['id']}"

    @property
    def as_of(self) -> str:
        """The newest time in the evidence (last sighting, review or page screenshot): the date the
        report speaks for."""
        return max(self.case.match["last_seen"], self.case.match.get("reviewed_at") or "",
                   (self.case.screenshot or {}).get("taken_at") or "")

    @property
    def captured_at(self) -> str:
        """When the copy was fetched (its first sighting when the capture row is gone)."""
        return (self.case.candidate or {}).get("fetched_at") or self.case.match["first_seen"]

    @property
    def footer(self) -> str:
        """The text every printed page's footer carries, safe inside a CSS string (only characters
        a match id and a timestamp use are kept)."""
        text = f"Match {self.case.match['id']} \u00b7 copy captured {self.captured_at} UTC"
        return "".join(c for c in text if c.isalnum() or c in " :.+-\u00b7")


def build(case: Case, settings: Settings) -> Report:
    work_pic, copy_pic, copy_rights, problem, regions, colour = _pictures(case, settings)
    headers = sorted((str(k), oneline(v)) for k, v in ((case.candidate or {}).get("headers") or {}).items())
    rights = cmi.compare_rights(case.asset.get("rights") or {}, copy_rights)
    screenshot, screenshot_rows = _screenshot(case)
    anchors = trust_anchors(settings)
    work_cc, copy_cc = (None if data is None else read_credentials(data, anchors)
                        for data in (case.work_bytes, case.copy_bytes))
    cc_removed, cc_found = credentials_sentences(work_cc, copy_cc)
    removed = cmi.removal_sentences(rights) + cc_removed
    carried = cmi.carried_sentences(case.asset.get("rights") or {}, work_cc,
                                    copy_kept_all=copy_rights is not None and not removed)
    return Report(
        case=case, work=work_pic, copy=copy_pic, picture_problem=problem,
        why=explain.why_sentences(case.match.get("signals") or {}, regions, colour),
        rights=rights, cmi_removed=removed, credentials_found=cc_found,
        credentials=[(who, cc) for who, cc in (("Registered file", work_cc), ("Copy", copy_cc)) if cc is not None],
        summary=_rows_summary(case),
        sections=[("Provenance of the copy", _rows_provenance(case)),
                  ("Registered work", _rows_work(case))],
        appendices=[("Appendix A: the signals the decision rests on", _rows_signals(case.match)),
                    ("Appendix B: software and settings", _rows_software(case.match)),
                    ("Appendix C: every signal as recorded", _rows_recorded(case.match.get("signals") or {}))],
        headers=headers,
        paper=settings.report.paper,
        screenshot=screenshot, screenshot_rows=screenshot_rows,
        rights_carried=carried, site_declared=site_declared(case),
    )


def render_html(report: Report) -> str:
    return environment().get_template("report.html.j2").render(report=report, m=report.case.match,
                                                               cmi_label=cmi.label, cmi_statute=cmi.statute())


def render_pdf(report: Report) -> bytes:
    """The report's HTML printed to PDF/A (PdfRendererMissing when the renderer cannot load)."""
    return print_html(render_html(report))


# -- files -----------------------------------------------------------------------------------

def write_report(ws: Workspace, store: Store, settings: Settings, match_id: int, *,
                 pdf: bool = False, out_dir: Path | None = None, owner_id: int | None = None,
                 stem: str | None = None) -> list[Path]:
    """Write match-ID.html (and match-ID.pdf), or STEM.html and STEM.pdf, under `out_dir` (default
    output/reports); returns the paths.

    The HTML is written first, so a machine without the PDF renderer keeps it: PdfRendererMissing
    then names the file written and what to install.
    """
    report = build(load_case(ws, store, match_id, owner_id), settings)
    folder = out_dir or ws.output_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    html = render_html(report)
    stem = stem or f"match-{match_id}"
    paths = [folder / f"{stem}.html"]
    paths[0].write_text(html, encoding="utf-8")
    if pdf:
        try:
            document = render_pdf(report)
        except PdfRendererMissing as e:
            raise PdfRendererMissing(f"Wrote {paths[0]} but no PDF: {e}") from e
        paths.append(folder / f"{stem}.pdf")
        paths[1].write_bytes(document)
    return paths
