"""`copyhound scan --warc FILE... --distributed`: one `copyhound.read_warc` task per file on real workers over a
real redis-server; what they read goes to detection as it comes, and the scan adds up the files' summaries."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from cluster import configure, run
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from detector import demo_site
from detector.workspace import open_workspace
from detector.workspace.store import Store

pytestmark = pytest.mark.slow  # a long end-to-end test: `make test-fast` leaves it out

SITE = "https://blog.example/"


def _warc(path, records: list[tuple[str, bytes, str]]) -> None:
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body, kind in records:
            headers = StatusAndHeaders("200 OK", [("Content-Type", kind)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=headers))


def test_each_warc_file_is_one_task_on_the_workers(registered_template, tmp_path, redis_client, redis_url,
                                                   workers_for):
    home = shutil.copytree(registered_template, tmp_path / "ws")
    configure(home, redis_url)
    site = demo_site.build_site(tmp_path / "site")
    first, second = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    _warc(first, [(f"{SITE}captioned.html", (site / "captioned.html").read_bytes(), "text/html"),
                  (f"{SITE}img/captioned.jpg", (site / "img" / "captioned.jpg").read_bytes(), "image/jpeg")])
    _warc(second, [(f"{SITE}img/grayscale.jpg", (site / "img" / "grayscale.jpg").read_bytes(), "image/jpeg"),
                   (f"{SITE}img/lake.jpg", (site / "img" / "lake.jpg").read_bytes(), "image/jpeg")])
    workers = workers_for(home)
    workers.start(2)

    done = run("scan", "--warc", str(first), "--warc", str(second), "--distributed", "--format", "json", home=home)
    assert done.returncode == 1, done.stderr  # 1: the captioned page's unrelated photo is not in the files
    summary = json.loads(done.stdout)
    crawl = summary["crawl"]
    assert crawl["files_read_by_workers"] == 2 and crawl["pages_fetched"] == 1 and crawl["candidates_added"] == 3
    assert crawl["refusals"] == {"not_in_archive": 1}
    store = Store(open_workspace(home).db_path)
    assert {m["image_url"]: m["page_url"] for m in store.matches()} == {
        f"{SITE}img/captioned.jpg": f"{SITE}captioned.html", f"{SITE}img/grayscale.jpg": f"{SITE}img/grayscale.jpg"}
    runs = store.scan_source_runs(summary["scan_id"], "warc-files")
    assert sorted(f for r in runs for f in r["cursor"]["files"]) == [str(first), str(second)]  # one run a file
    assert store.count_pending() == 0
    store.close()
    assert workers.log_text().count("copyhound.read_warc") >= 2
