"""Image discovery on HTML pages, run on real Scrapy responses."""

from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from crawlers.discover import ImageRef, find_images, largest_in_srcset, page_title


def page(body: str, url: str = "https://site.example/gallery/page.html") -> HtmlResponse:
    return HtmlResponse(url=url, body=body.encode(), encoding="utf-8")


@pytest.mark.parametrize("srcset, largest", [
    ("a.jpg 300w, b.jpg 1200w, c.jpg 800w", "b.jpg"),
    ("a.jpg 1x, b.jpg 2x", "b.jpg"),
    ("a.jpg, b.jpg 1.5x", "b.jpg"),
    ("only.jpg", "only.jpg"),
    ("img/x,y.jpg 100w, img/z.jpg 50w", "img/x,y.jpg"),
    ("  ", None),
])
def test_largest_in_srcset(srcset, largest):
    assert largest_in_srcset(srcset) == largest


def test_every_reference_form_is_found_and_resolved():
    refs = find_images(page("""
        <html><head><title> A  gallery </title>
        <meta property="og:image" content="/og.jpg"><meta name="twitter:image:src" content="tw.jpg">
        <link rel="image_src" href="https://cdn.example/linked.jpg">
        <script type="application/ld+json">{"@graph": [{"@type": "ImageObject", "contentUrl": "ld1.jpg",
            "width": {"@type": "QuantitativeValue", "value": 640}}, {"@type": "Thing",
            "image": ["ld2.jpg", {"url": "ld3.jpg"}]}]}</script>
        <script type="application/ld+json">{ not json </script></head>
        <body><img src="plain.jpg"><img srcset="s1.jpg 1x, s2.jpg 2x">
        <img src="data:image/png;base64,AAAA" data-lazy-src="lazy.jpg">
        <picture><source data-srcset="p1.webp 400w, p2.webp 900w"><img src="pfb.jpg" alt="Pic"></picture>
        <span style="background: #fff url(&quot;bg.png&quot;) no-repeat">x</span>
        <img src="data:image/gif;base64,R0lGOD"><img src="plain.jpg#zoom"></body></html>
    """))
    base = "https://site.example/gallery/"
    assert [r.url for r in refs] == [
        base + "plain.jpg", base + "s2.jpg", base + "lazy.jpg", base + "p2.webp", base + "pfb.jpg",
        "https://site.example/og.jpg", base + "tw.jpg", "https://cdn.example/linked.jpg",
        base + "bg.png", base + "ld1.jpg", base + "ld2.jpg", base + "ld3.jpg",
    ]
    assert refs[3].alt == "Pic"  # a picture's sources share its img's alt text
    assert refs[9].width == 640


def test_base_href_and_duplicates_merge_what_each_reference_says():
    refs = find_images(page("""
        <html><head><base href="https://static.example/v2/"></head><body>
        <img src="a.jpg">
        <figure><img src="/v2/a.jpg" alt="Harbour" width="800" height="600px">
        <figcaption> The harbour <b>at dawn</b> </figcaption></figure>
        <div class="entry"><img src="b.jpg"><p class="wp-caption-text">Said below</p></div>
        </body></html>
    """))
    assert refs == [
        ImageRef("https://static.example/v2/a.jpg", alt="Harbour", caption="The harbour at dawn", width=800, height=600),
        ImageRef("https://static.example/v2/b.jpg", caption="Said below"),
    ]


def test_page_title_falls_back_to_og_title():
    assert page_title(page("<html><head><title>\n Home \n</title></head></html>")) == "Home"
    assert page_title(page('<html><head><meta property="og:title" content="Story"></head></html>')) == "Story"
    assert page_title(page("<html><body>untitled</body></html>")) is None
