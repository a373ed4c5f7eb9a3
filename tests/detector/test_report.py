"""Evidence reports from a real workspace: a real Store, blobs, WARC, and a copy made with Pillow."""

import base64
import io
import re

import numpy as np
from evidence_case import FINAL_URL, OFFSET, PAGE_URL, SCALE, build_env
from PIL import Image
from pypdf import PdfReader

from detector import cmi, text
from detector.evidence import case, report

HOSTILE_TITLE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def images_in(html):
    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")
            for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_html_report_is_self_contained_and_escapes_what_came_from_the_web(tmp_path):
    env = build_env(tmp_path, page_title=HOSTILE_TITLE)
    html = report.render_html(report.build(case.load_case(env.ws, env.store, env.match_id), env.settings))
    assert "<script" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'; img-src data:" in html
    # no external resources: every src is a data: URI, every link an http(s) URL from the evidence
    assert set(re.findall(r'src="([a-z]+):', html)) == {"data"}
    page, image = PAGE_URL.replace("&", "&amp;"), "https://cdn.example.com/img/mug.jpg"
    assert re.findall(r'href="([^"]+)"', html) == [page, image, page, image, FINAL_URL, "https://alice.example.org/licence"]


def test_report_outlines_the_verified_region_where_the_transform_puts_the_work(tmp_path):
    env = build_env(tmp_path)
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    work, copy = images_in(report.render_html(built))
    assert (work.width, work.height) == (480, 360) and (copy.width, copy.height) == (400, 300)
    pixels = np.asarray(copy).astype(int)
    x0, y0 = OFFSET
    x1, y1 = x0 + round(480 * SCALE), y0 + round(360 * SCALE)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    assert red[(y0 + y1) // 2, x0 - 1:x0 + 2].any() and red[(y0 + y1) // 2, x1 - 2:x1 + 1].any()
    assert red[y0 - 1:y0 + 2, (x0 + x1) // 2].any() and red[y1 - 2:y1 + 1, (x0 + x1) // 2].any()
    assert not red[150, 330] and not red[280, 20]  # the grey canvas outside the outline stays unmarked
    assert built.copy.note == "red outline: where the work sits in the copy"
    assert built.work.note == "red outline: the copy shows the whole work"


def test_report_tells_which_rights_notices_the_copy_lost(tmp_path):
    env = build_env(tmp_path)
    built = report.build(case.load_case(env.ws, env.store, env.match_id), env.settings)
    verdicts = {row.field: (row.verdict, row.work, row.copy) for row in built.rights}
    assert verdicts["creator"] == ("stripped", "Alice Example", None)
    assert verdicts["copyright"] == ("stripped", "(c) 2024 Alice Example Photography Ltd", None)
    assert verdicts["credit"][0] == "absent"


def test_rights_comparison_names_changed_added_and_kept_fields():
    rows = cmi.compare_rights({"creator": "Alice", "copyright": "(c) Alice", "credit": "A"},
                                 {"creator": "Mallory", "copyright": " (C)  alice ", "rights_url": "https://m.example"})
    assert [(r.field, r.verdict) for r in rows] == [
        ("creator", "changed"), ("copyright", "kept"), ("credit", "stripped"), ("rights_url", "added"),
        ("licensor", "absent"), ("data_mining", "absent")]
    assert {r.verdict for r in cmi.compare_rights({"creator": "Alice"}, None)} == {"unknown"}


def test_report_carries_provenance_signals_and_versions(tmp_path):
    env = build_env(tmp_path)
    html = report.render_html(report.build(case.load_case(env.ws, env.store, env.match_id), env.settings))
    for expected in ("2025-03-01T10:00:00Z", "warc/scan-1.warc.gz @ byte", env.store.match(env.match_id)["sha256"],
                     f"{len(env.copy_bytes)} bytes", "Last-Modified",
                     "Of those, points in the same arrangement (RANSAC inliers)</th><td>95",
                     "clip:ViT-B-32/laion2b_s34b_b79k#abc123", "copyhound 0.1.0", "match 0.8, review 0.5",
                     "HTTP status</th><td>200"):
        assert expected in html, expected


def test_non_http_urls_are_shown_as_text_and_never_linked(tmp_path):
    assert text.safe_href("javascript:alert(1)") == ""
    assert text.safe_href("data:text/html,<b>x</b>") == ""
    assert text.safe_href("https://ok.example/a b") == ""
    assert text.safe_href("http://ok.example/a?b=1") == "http://ok.example/a?b=1"
    env = build_env(tmp_path)
    env.store.update_candidate(env.candidate_id, final_url="javascript:alert(1)")
    html = report.render_html(report.build(case.load_case(env.ws, env.store, env.match_id), env.settings))
    assert 'href="javascript' not in html
    assert '<span class="unlinked">javascript:alert(1)</span> <em>(not linked: not an http(s) URL)</em>' in html


def test_oneline_removes_controls_and_bidi_overrides():
    assert text.oneline("a\nb\u202e\u0000c\t d") == "a b c d"


def test_report_without_transform_says_so_and_pdf_is_printed_from_it_dated_by_the_evidence(tmp_path):
    env = build_env(tmp_path, signals={"sha256_equal": False, "embedder": "none", "page_title": "x"})
    paths = report.write_report(env.ws, env.store, env.settings, env.match_id, pdf=True)
    assert [p.name for p in paths] == [f"match-{env.match_id}.html", f"match-{env.match_id}.pdf"]
    assert all(p.parent == env.ws.output_dir / "reports" for p in paths)
    document = PdfReader(paths[1])
    assert document.metadata["/CreationDate"].startswith("D:20250301100000")
    assert "the match carries no transform" in paths[0].read_text(encoding="utf-8")
    assert "the match carries no transform" in " ".join(document.pages[0].extract_text().split())
    assert paths[1].read_bytes() == report.render_pdf(report.build(case.load_case(env.ws, env.store, env.match_id),
                                                                   env.settings))


def test_page_one_says_who_claims_which_work_where_when_and_why_and_the_signals_follow_in_words(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    signals = env.store.match(env.match_id)["signals"]
    signals["verification"]["transform"] = [[0.5, -1.0673766421199301e-08, 40.0], [0.0, 0.5, 30.0], [0.0, 0.0, 1.0]]
    env.store.db["matches"].update(env.match_id, {"signals": __import__("json").dumps(signals)})
    env.store.db["assets"].update(env.asset_id, {"license_url": None})
    paths = report.write_report(env.ws, env.store, env.settings, env.match_id, pdf=True)
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(paths[1]).pages]
    first = pages[0]
    for expected in ("Claimant Alice Example Photography Ltd", "Work \u201cCastle at dusk\u201d (work 1, by Alice Example)",
                 "Copy found on https://shop.example.com/products/mug?id=1&ref=a",
                 "Seen first 2025-03-01T10:00:00Z", "Review confirmed as a copy by a reviewer",
                 "Why this is a copy of the work", "95 distinctive points of the work were found in the copy"):
        assert expected in first, expected
    assert "RANSAC" not in first and "inlier" not in first  # the technical signals are in the appendix
    html = paths[0].read_text(encoding="utf-8")
    appendix = html[html.index("Appendix A"):]
    assert "Of those, points in the same arrangement (RANSAC inliers)</th><td>95" in appendix
    # the recorded signals are a table of plain numbers, not raw JSON
    assert "e-08" not in html and "<pre" not in html
    assert "verification / transform</th><td>[0.5, 0, 40] / [0, 0.5, 30] / [0, 0, 1]" in appendix
    assert "Licence URL</th><td>none given" in html and "not an http(s) URL" not in html
