"""The evidence report (and the licensing documents) as PDF, printed by WeasyPrint from the very HTML
they show.

One source for both: the page size, footers and page breaks are the template's print CSS
(`@page`), so what the PDF says is what the HTML says. The PDF is PDF/A-2b (fonts embedded, an
sRGB output intent, XMP metadata), the archival form courts and e-filing systems ask for, and it
is dated with the evidence (the template's `dcterms.created`), so the same evidence prints to the
same bytes on the same machine.

WeasyPrint lays text out with Pango, a system library. Without it the import fails with OSError;
`PdfRendererMissing` then says what to install, and callers keep the HTML.
"""

from __future__ import annotations

from PIL import ImageFile

from detector.errors import CopyhoundError

PDF_VARIANT = "pdf/a-2b"

INSTALL_HINT = (
    "the PDF renderer WeasyPrint needs the Pango library. Install it with "
    "`apt-get install libpango-1.0-0 libpangoft2-1.0-0` (Debian, Ubuntu), `dnf install pango` (Fedora) "
    "or `brew install pango` (macOS); the HTML report is complete without it."
)


class PdfRendererMissing(CopyhoundError):
    """WeasyPrint or the system libraries it needs are not installed."""

    exit_code = 3


def _weasyprint():
    # Importing WeasyPrint turns on Pillow's process-wide LOAD_TRUNCATED_IMAGES, which would let
    # intake accept truncated uploads in the same process; the report's own PNGs never need it.
    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
    except (ImportError, OSError) as e:  # OSError: Pango missing (cffi cannot load libpango)
        raise PdfRendererMissing(f"{INSTALL_HINT} ({type(e).__name__}: {e})") from e
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return weasyprint


def print_html(html: str) -> bytes:
    """A self-contained HTML page (images as data: URIs) printed to PDF/A, dated by its `dcterms.created`
    meta when it has one; the same path prints reports, invoices, certificates and statements."""
    weasyprint = _weasyprint()
    # Printing must fetch nothing: a page's text may come from the web, and its links must stay links.
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"})
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(pdf_variant=PDF_VARIANT)
