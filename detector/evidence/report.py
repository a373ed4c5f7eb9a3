"""The evidence report of one match: a self-contained HTML page and a PDF.

Both show the registered work beside the copy as fetched (the verified region outlined on the
copy), the signals and decision, the provenance of the capture, the rights metadata of work and
copy, and the software that decided. Everything that came from the web is untrusted: the HTML
template autoescapes, web strings lose control and bidi characters (`oneline`), URLs are shown
as text and linked only when they are http(s), and a Content-Security-Policy forbids scripts
and any request (images are embedded as data: URIs).

A report states what the workspace holds, not when it was rendered: it carries no render
time, so the same evidence renders to the same bytes (bundles rely on this).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import detector
from detector.config import Settings
from detector.errors import ImageRefused
from detector.evidence.case import Case, RightsRow, compare_rights, environment, load_case, oneline
from detector.intake import decode_image
from detector.workspace import Workspace
from detector.workspace.store import Store

_OUTLINE = (230, 30, 30)
_WINDOW = (30, 110, 230)


# -- what the report shows -------------------------------------------------------------------

def outline(transform, work_size: tuple[int, int]) -> list[tuple[float, float]] | None:
    """The work's corners projected through `transform` (a 3x3 homography from work pixels to copy
    pixels), or None when there is no usable transform (missing, malformed, or folding a corner
    behind the camera)."""
    try:
        h = np.asarray(transform, dtype=float)
    except (TypeError, ValueError):
        return None
    if h.shape != (3, 3) or not np.all(np.isfinite(h)):
        return None
    w, ht = work_size
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, ht, 1], [0, ht, 1]], dtype=float)
    projected = corners @ h.T
    if np.any(projected[:, 2] <= 1e-9):
        return None
    return [(float(x / z), float(y / z)) for x, y, z in projected]


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


def _pictures(case: Case, settings: Settings) -> tuple[Picture | None, Picture | None, dict | None, str | None]:
    """(work picture, copy picture with the matched region drawn, copy rights, why the copy is unreadable)."""
    side = settings.evidence.thumbnail_side
    work_pic = copy_rights = problem = None
    if case.work_bytes is not None:
        try:
            decoded = decode_image(case.work_bytes, case.asset["filename"], settings.intake)
            shown = _display(decoded.image, side)
            work_pic = Picture(_png(shown), shown.size, decoded.width, decoded.height, "registered work")
        except ImageRefused as e:
            problem = f"the registered file no longer decodes: {e}"
    if case.copy_bytes is None:
        return work_pic, None, None, "the captured bytes are not in the workspace's blob store"
    try:
        decoded = decode_image(case.copy_bytes, "captured copy", settings.intake)
    except ImageRefused as e:
        return work_pic, None, None, f"the captured bytes do not decode ({e.reason}: {e.detail})"
    copy_rights = decoded.rights.as_dict()
    shown = _display(decoded.image, side)
    note = _draw_region(shown, case, (decoded.width, decoded.height))
    return work_pic, Picture(_png(shown), shown.size, decoded.width, decoded.height, note), copy_rights, problem


def _draw_region(shown: Image.Image, case: Case, copy_size: tuple[int, int]) -> str:
    """Draw what matched onto the displayed copy; returns a sentence saying what was drawn."""
    signals = case.match.get("signals") or {}
    scale_x, scale_y = shown.width / copy_size[0], shown.height / copy_size[1]
    draw = ImageDraw.Draw(shown)
    width = max(3, round(min(shown.size) / 100))
    verification = signals.get("verification") or {}
    corners = outline(verification.get("transform"), (case.asset["width"], case.asset["height"]))
    if corners is not None:
        points = [(x * scale_x, y * scale_y) for x, y in corners]
        draw.line(points + points[:1], fill=_OUTLINE, width=width, joint="curve")
        return "red outline: the registered work's border mapped into the copy by the verified transform"
    region = signals.get("clip_region")
    if isinstance(region, (list, tuple)) and len(region) == 4 and all(isinstance(v, (int, float)) for v in region):
        x0, y0, x1, y1 = region
        draw.rectangle([x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y], outline=_WINDOW, width=width)
        return "blue box: the window of the copy whose embedding matched best (no verified transform)"
    if signals.get("sha256_equal"):
        return "the copy is byte-identical to the registered file"
    return "no region to draw: the match carries no transform"


def _rows_work(case: Case) -> list[tuple[str, object, str]]:
    a = case.asset
    return [
        ("Work id", a["id"], "text"), ("Title", a.get("title"), "text"), ("Creator", a.get("creator"), "text"),
        ("Owner", case.owner.get("legal_name") or case.owner["name"], "text"),
        ("File name", a["filename"], "text"), ("SHA-256", a["sha256"], "code"),
        ("Size", f"{a['width']} x {a['height']} px, {a['byte_size']} bytes, {a['format']}", "text"),
        ("Licence URL", a.get("license_url"), "url"), ("Registered (UTC)", a["registered_at"], "text"),
    ]


def _rows_signals(match: dict) -> list[tuple[str, object, str]]:
    s = match.get("signals") or {}
    v = s.get("verification") or {}

    def num(value, digits=3):
        return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    def yes(value):
        return None if value is None else ("yes" if value else "no")

    rows = [
        ("Decision", f"{match['decision']} (score {num(match['score'])})", "text"),
        ("Review status", match["status"] + (f" - {match['note']}" if match.get("note") else ""), "text"),
        ("Byte-identical", yes(s.get("sha256_equal")), "text"),
        ("pHash distance (of 64)", s.get("phash_distance"), "text"),
        ("dHash distance (of 64)", s.get("dhash_distance"), "text"),
        ("PDQ distance (of 256)", s.get("pdq_distance"), "text"),
        ("Hash matched mirrored", yes(s.get("hash_mirrored")), "text"),
        ("Embedding cosine", num(s.get("clip_cosine")), "text"),
        ("Shortlisted by", ", ".join(map(str, s.get("shortlisted_by") or [])) or None, "text"),
        ("Geometric verification", yes(v.get("verified")), "text"),
        ("Method", v.get("method"), "text"), ("Ratio-test matches", v.get("good_matches"), "text"),
        ("RANSAC inliers", v.get("inliers"), "text"), ("Inlier ratio", num(v.get("inlier_ratio")), "text"),
        ("Work area covered", num(v.get("asset_coverage")), "text"),
        ("Copy area covered", num(v.get("candidate_coverage")), "text"),
        ("Normalised cross-correlation", num(v.get("ncc")), "text"),
        ("Mirrored copy", yes(v.get("mirrored")), "text"), ("Verifier's reason", v.get("reason"), "text"),
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
        ("Displayed size", size, "text"),
        ("SHA-256 of captured bytes", m["sha256"], "code"), ("Captured size", _bytes(c.get("byte_size")), "text"),
        ("Sniffed format", c.get("sniffed_format"), "text"),
        ("WARC record of the image", warc(c.get("warc_file"), c.get("warc_offset")), "code"),
        ("WARC record of the page", warc(c.get("page_warc_file"), c.get("page_warc_offset")), "code"),
        ("First seen (UTC)", m["first_seen"], "text"), ("Last seen (UTC)", m["last_seen"], "text"),
        ("Sightings", m["sightings"], "text"),
    ]
    return [row for row in rows if row[1] not in (None, "")]


def _bytes(size) -> str | None:
    return None if size is None else f"{size} bytes"


def _rows_software(match: dict) -> list[tuple[str, object, str]]:
    s = match.get("signals") or {}
    return [
        ("Detected by", s.get("software") or "not recorded", "text"),
        ("Embedder", s.get("embedder") or "not recorded", "code"),
        ("Thresholds", json.dumps(s["thresholds"], sort_keys=True) if s.get("thresholds") else "not recorded", "code"),
        ("Report made by", f"copyhound {detector.__version__}", "text"),
    ]


@dataclass(frozen=True)
class Report:
    """What a report shows, computed once and rendered to HTML and PDF."""

    case: Case
    work: Picture | None
    copy: Picture | None
    picture_problem: str | None
    rights: list[RightsRow]
    sections: list[tuple[str, list[tuple[str, object, str]]]]
    headers: list[tuple[str, str]]
    signals_json: str

    @property
    def title(self) -> str:
        return f"Evidence report: match {self.case.match['id']}"

    @property
    def as_of(self) -> str:
        """The newest time in the evidence (last sighting or review): the date the report speaks for."""
        return max(self.case.match["last_seen"], self.case.match.get("reviewed_at") or "")


def build(case: Case, settings: Settings) -> Report:
    work_pic, copy_pic, copy_rights, problem = _pictures(case, settings)
    headers = sorted((str(k), oneline(v)) for k, v in ((case.candidate or {}).get("headers") or {}).items())
    return Report(
        case=case, work=work_pic, copy=copy_pic, picture_problem=problem,
        rights=compare_rights(case.asset.get("rights") or {}, copy_rights),
        sections=[("Decision and signals", _rows_signals(case.match)),
                  ("Provenance of the copy", _rows_provenance(case)),
                  ("Registered work", _rows_work(case)),
                  ("Software and settings", _rows_software(case.match))],
        headers=headers,
        signals_json=json.dumps(case.match.get("signals") or {}, indent=2, sort_keys=True),
    )


def render_html(report: Report) -> str:
    return environment().get_template("report.html.j2").render(report=report, m=report.case.match)


# -- files -----------------------------------------------------------------------------------

def write_report(ws: Workspace, store: Store, settings: Settings, match_id: int, *,
                 pdf: bool = False, out_dir: Path | None = None, owner_id: int | None = None) -> list[Path]:
    """Write match-ID.html (and match-ID.pdf) under `out_dir` (default output/reports); returns the paths."""
    report = build(load_case(ws, store, match_id, owner_id), settings)
    folder = out_dir or ws.output_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"match-{match_id}.html"]
    paths[0].write_text(render_html(report), encoding="utf-8")
    if pdf:
        from detector.evidence.pdf import render_pdf

        paths.append(folder / f"match-{match_id}.pdf")
        paths[1].write_bytes(render_pdf(report))
    return paths
