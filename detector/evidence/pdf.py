"""The evidence report as a PDF."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from fpdf import FPDF

import detector
from detector.evidence.case import oneline
from detector.evidence.report import Report

_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                             "\u2014": "-", "\u2026": "...", "\u00a0": " "})


def pdf_text(value) -> str:
    """Text the PDF's core font can show: characters outside Latin-1 become \\u{XXXX}.

    Core fonts keep the PDF free of font files found on one machine only (and so identical
    everywhere); the HTML report shows every character as it is.
    """
    text = oneline(value).translate(_TYPOGRAPHY)
    return "".join(c if ord(c) < 256 else f"\\u{{{ord(c):04X}}}" for c in text)


def _pdf_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(UTC)


def render_pdf(report: Report) -> bytes:
    """The report as PDF (core fonts, images embedded); dated with the evidence, not the render time."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(_pdf_time(report.as_of))
    pdf.set_title(report.title)
    pdf.set_creator(f"copyhound {detector.__version__}")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, pdf_text(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, pdf_text(f"Page: {report.case.match['page_url']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, pdf_text(f"State of the evidence as of {report.as_of}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _pdf_pictures(pdf, report)
    for heading, rows in report.sections:
        _pdf_heading(pdf, heading)
        for label, value, _ in rows:
            _pdf_row(pdf, label, value)
    _pdf_heading(pdf, "Rights metadata: registered file vs copy")
    for row in report.rights:
        _pdf_row(pdf, row.field, f"{row.verdict}: work {row.work or '-'}; copy {row.copy or '-'}")
    if report.headers:
        _pdf_heading(pdf, "HTTP response headers kept with the capture")
        for name, value in report.headers:
            _pdf_row(pdf, name, value)
    return bytes(pdf.output())


def _pdf_heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)


def _pdf_row(pdf: FPDF, label: str, value) -> None:
    label_width = 55
    pdf.set_font("Helvetica", "B", 9)
    y = pdf.get_y()
    pdf.multi_cell(label_width, 5, pdf_text(label), new_x="RIGHT", new_y="TOP")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), y + 5))


def _pdf_pictures(pdf: FPDF, report: Report) -> None:
    box = (pdf.w - pdf.l_margin - pdf.r_margin - 6) / 2
    top = pdf.get_y()
    heights = []
    for i, (label, picture) in enumerate((("Registered work", report.work), ("Copy as fetched", report.copy))):
        x = pdf.l_margin + i * (box + 6)
        pdf.set_xy(x, top)
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(box, 5, label)
        if picture is None:
            heights.append(10)
            continue
        shown_h = box * picture.shown[1] / picture.shown[0]
        pdf.image(io.BytesIO(picture.png), x=x, y=top + 6, w=box, h=shown_h)
        pdf.set_xy(x, top + 7 + shown_h)
        pdf.set_font("Helvetica", "", 8)
        pdf.multi_cell(box, 4, pdf_text(f"{picture.width} x {picture.height} px; {picture.note}"))
        heights.append(pdf.get_y() - top)
    pdf.set_xy(pdf.l_margin, top + max(heights))
    if report.picture_problem:
        pdf.multi_cell(0, 5, pdf_text(f"Note: {report.picture_problem}"), new_x="LMARGIN", new_y="NEXT")
