"""What the report says and how it prints: a real copy verified by the real verifier, the PDF
printed by WeasyPrint from the report's HTML and read back with pypdf."""

import io
import json
import sys
from dataclasses import replace

import numpy as np
import pytest
from evidence_case import build_env
from PIL import Image, ImageOps
from pypdf import PdfReader

from detector.config import ReportSettings, from_dict
from detector.errors import ConfigError, ImageRefused
from detector.evidence import case, pdf, report
from detector.evidence.region import matched_regions
from detector.features import extract
from detector.intake import decode_image
from detector.verify import Verifier
from detector.workspace.blobs import BlobStore

CROP = (96, 54, 384, 306)  # the part of the 480 x 360 work the copy keeps: 60% x 70% = 42% of it
SCALE = 0.7


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def cropped_mirrored_copy(work: Image.Image) -> Image.Image:
    part = work.crop(CROP)
    return ImageOps.mirror(part.resize((round(part.width * SCALE), round(part.height * SCALE)), Image.LANCZOS))


def real_match(tmp_path, make_copy=cropped_mirrored_copy):
    """The evidence case's match, its copy replaced by one made here and its signals by what the
    real verifier finds between the work and that copy."""
    env = build_env(tmp_path)
    work = Image.open(io.BytesIO(env.work_bytes)).convert("RGB")
    copy = make_copy(work)
    copy_bytes = jpeg(copy)
    copy = Image.open(io.BytesIO(copy_bytes)).convert("RGB")
    verdict = Verifier().verify(extract(copy), extract(work), np.asarray(copy.convert("L")),
                                np.asarray(work.convert("L")), candidate_mirror=extract(ImageOps.mirror(copy)))
    assert verdict.verified, verdict.reason
    sha = BlobStore(env.ws.blobs_dir).put(copy_bytes)
    env.store.update_candidate(env.candidate_id, sha256=sha, byte_size=len(copy_bytes))
    signals = {"sha256_equal": False, "phash_distance": 30, "verification": verdict.as_dict()}
    env.store.db["matches"].update(env.match_id, {"sha256": sha, "signals": json.dumps(signals)})
    return env, copy.size


def built(env, settings=None):
    return report.build(case.load_case(env.ws, env.store, env.match_id), settings or env.settings)


def red(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)


def test_why_paragraph_says_share_scale_mirroring_and_correlation_of_a_real_copy(tmp_path):
    env, _ = real_match(tmp_path)
    made = built(env)
    v = env.store.match(env.match_id)["signals"]["verification"]
    [why] = made.why  # verified geometry: one sentence, and no fingerprint sentence beside it
    assert why.startswith(f"{v['inliers']} distinctive points of the work were found in the copy in the same arrangement")
    share = (CROP[2] - CROP[0]) * (CROP[3] - CROP[1]) / (480 * 360)
    assert f"the copy shows {share:.0%} of the work, scaled to {SCALE:.0%} and mirrored" in why
    assert f"the brightness patterns agree after conversion to grey (correlation {v['ncc']:.2f}, where 1 is identical)" in why
    html = report.render_html(made)
    assert html.index("Why this is a copy of the work") < html.index("Appendix A: the signals the decision rests on")


def test_matched_region_is_drawn_on_the_work_and_cut_to_the_cropped_copy(tmp_path):
    env, copy_size = real_match(tmp_path)
    made = built(env)
    work = Image.open(io.BytesIO(made.work.png))
    copy = Image.open(io.BytesIO(made.copy.png))
    # On the work: the outline runs along the cropped part's edges, and nothing outside it is marked.
    on_work = red(work)
    x0, y0, x1, y1 = CROP
    middle_y, middle_x = (y0 + y1) // 2, (x0 + x1) // 2
    for row, col in ((middle_y, slice(x0 - 4, x0 + 5)), (middle_y, slice(x1 - 4, x1 + 5)),
                     (slice(y0 - 4, y0 + 5), middle_x), (slice(y1 - 4, y1 + 5), middle_x)):
        assert on_work[row, col].any()
    assert not on_work[:y0 - 6].any() and not on_work[y1 + 6:].any()
    assert not on_work[:, :x0 - 6].any() and not on_work[:, x1 + 6:].any()
    assert "the part of the work the copy shows" in made.work.note
    # On the copy: the work's border lies outside it; what is drawn is its frame, inside the picture.
    assert (copy.width, copy.height) == copy_size
    on_copy = red(copy)
    h, w = on_copy.shape
    assert on_copy[h // 2, :4].any() and on_copy[h // 2, -4:].any() and on_copy[:4, w // 2].any()
    assert on_copy[-4:, w // 2].any() and not on_copy[h // 4:3 * h // 4, w // 4:3 * w // 4].any()
    assert "cut at the copy's edges" in made.copy.note


def test_pdf_prints_the_html_with_footer_and_page_numbers_on_every_page(tmp_path):
    env, _ = real_match(tmp_path)
    made = built(env)
    document = PdfReader(io.BytesIO(report.render_pdf(made)))
    pages = [" ".join(page.extract_text().split()) for page in document.pages]
    assert len(pages) >= 2  # the signals do not fit one page, so the footer is checked on several
    for number, text in enumerate(pages, 1):
        assert f"Match {env.match_id} \u00b7 copy captured 2025-03-01T10:00:00Z UTC" in text
        assert f"Page {number} of {len(pages)}" in text
    whole = " ".join(pages)
    assert made.why[0].split(";")[0] in whole and "17 U.S.C. 1202(b)" in whole
    assert [round(float(v)) for v in document.pages[0].mediabox[2:]] == [595, 842]  # A4 in points
    xmp = document.xmp_metadata
    assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("2", "B")  # PDF/A-2b
    letter = replace(env.settings, report=ReportSettings(paper="Letter"))
    printed = PdfReader(io.BytesIO(report.render_pdf(built(env, letter))))
    assert [round(float(v)) for v in printed.pages[0].mediabox[2:]] == [612, 792]


def test_paper_size_must_be_a4_or_letter():
    assert from_dict({"report": {"paper": "Letter"}}).report.paper == "Letter"
    with pytest.raises(ConfigError, match=r"report.paper must be one of A4, Letter, got 'A5'."):
        from_dict({"report": {"paper": "A5"}})


def test_without_the_renderer_the_html_is_kept_and_the_message_says_what_to_install(tmp_path, monkeypatch):
    env = build_env(tmp_path)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as on a machine where it cannot be imported
    with pytest.raises(pdf.PdfRendererMissing) as refused:
        report.write_report(env.ws, env.store, env.settings, env.match_id, pdf=True)
    html = env.ws.output_dir / "reports" / f"match-{env.match_id}.html"
    assert str(refused.value).startswith(f"Wrote {html} but no PDF: the PDF renderer WeasyPrint needs the Pango")
    assert "apt-get install libpango-1.0-0 libpangoft2-1.0-0" in str(refused.value)
    assert refused.value.exit_code == 3
    assert "Evidence report: match" in html.read_text(encoding="utf-8")
    assert not html.with_suffix(".pdf").exists()


def test_printing_a_pdf_leaves_truncated_uploads_refused(tmp_path):
    env = build_env(tmp_path)
    report.render_pdf(built(env))  # WeasyPrint's import would otherwise let Pillow load truncated files
    with pytest.raises(ImageRefused) as refused:
        decode_image(env.work_bytes[:3000], "truncated.jpg", env.settings.intake)
    assert refused.value.reason == "corrupt"


def test_regions_of_a_whole_mirrored_copy_and_of_a_transform_that_misses_the_copy():
    whole = matched_regions([[-1, 0, 639], [0, 1, 0], [0, 0, 1]], (640, 432), (640, 432))
    assert not whole.cut and whole.work_share > 0.99 and abs(whole.scale - 1) < 0.01
    assert matched_regions([[1, 0, 5000], [0, 1, 0], [0, 0, 1]], (640, 432), (640, 432)) is None
    assert matched_regions([[1, 0], [0, 1]], (640, 432), (640, 432)) is None
