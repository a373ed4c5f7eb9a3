"""Portal load during a scan and two `copyhound enforce` runs: N clients reviewing matches, listing them,
countering offers on their public pages and paying accepted offers (two half payments at once), against the
real portal on 127.0.0.1 while `copyhound scan --no-crawl` detects and two enforce processes send offers to a
real SMTP server on loopback, all on one workspace.

    python -m benchmarks.concurrency [--clients 10] [--candidates 60] [--seed 7]

Builds a workspace from the bundled demo works (embedder none), detects a first batch of copies so there are
matches to review, offers to counter and accepted offers to pay, queues `--candidates` more copies for the
scan, then counts every request answered 5xx (or dropped), every offer e-mailed twice, and every payment lost
(an offer paid in full that is not `paid`, or a 201 payment missing from the store). Prints one JSON object
(requests by kind, errors, latency percentiles, the scan's and enforce runs' exit codes, the machine).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from PIL import Image

from benchmarks.machine import describe
from detector import config, demo_site, tokens
from detector.detect import Detector
from detector.evidence.review import review_match
from detector.licensing import offers, settlement
from detector.provenance import signing
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store, utc_now

PROFILE = {"legal_name": "Alice Example Photography Ltd", "address": "1 Lens Street, Camtown", "email":
           "alice@example.org", "signature": "/s/ Alice Example", "jurisdiction": "Germany"}
BUYER = settlement.Visitor("Bench Buyer", "Bench GmbH", "buyer@bench.example.org")


TRANSFORMS = [demo_site.recompressed, demo_site.cropped, demo_site.captioned, demo_site.resized,
              demo_site.in_banner, demo_site.mirrored]


def _copies(ws, store: Store, rng: random.Random, scan_id: int, count: int, start: int) -> None:
    works = sorted(demo_site.WORKS_DIR.glob("*.jpg"))
    blobs = BlobStore(ws.blobs_dir)
    for i in range(start, start + count):
        image = rng.choice(TRANSFORMS)(Image.open(rng.choice(works)).convert("RGB"))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=rng.randint(70, 95))
        page = f"https://site{i}.example.com/post"
        store.add_candidate({"scan_id": scan_id, "target": "bench", "page_url": page, "image_url": f"{page}/{i}.jpg",
                             "discovered_at": utc_now(), "fetched_at": utc_now(), "http_status": 200,
                             "sha256": blobs.put(out.getvalue()), "byte_size": out.tell(), "sniffed_format": "jpeg"})


class _Mailbox:
    """aiosmtpd's handler: the (recipient, subject) of every message received."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        subject = re.search(rb"^Subject: (.*)$", envelope.content, re.MULTILINE)
        self.sent.append((",".join(envelope.rcpt_tos), subject.group(1).decode() if subject else ""))
        return "250 OK"


@dataclass
class Setup:
    ws: object
    token: str
    review_ids: list[int]          # matches the review clients confirm or reject
    counter_pages: list[str]       # offer page paths (/o/TOKEN) to counter on
    to_pay: list[tuple[int, int]]  # accepted offers and what each costs, in minor units
    paid: list[int] = field(default_factory=list)     # offers paid in two halves
    created: list[int] = field(default_factory=list)  # payment ids the API answered 201 with


def build(home: Path, candidates: int, seed: int, smtp_port: int) -> Setup:
    rng = random.Random(seed)
    settings = config.from_dict({
        "enforcement": {"commercial_domains": ["example.com"], "daily_cap_owner": 10_000,
                        "daily_cap_recipient": 10_000, "offer_url": "https://portal.example/o/{offer_id}",
                        "rules": [{"name": "offer-commercial", "commercial": "yes", "offer": "none",
                                   "action": "offer"}]},
        "recipients": {"overrides": {"example.com": "legal@rights.example.org"}},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False},
    }).with_embedder("none")
    ws, _ = create_workspace(home, settings)
    signing.ensure_keypair(ws)
    store = open_store(ws)
    store.update_owner(store.ensure_owner("alice")["id"], **PROFILE)
    register_files(ws, store, settings, None, sorted(demo_site.WORKS_DIR.glob("*.jpg")), WorkInfo("alice"))
    scan_id = store.start_scan({"targets": ["bench"], "crawl": False})
    _copies(ws, store, rng, scan_id, 24, 0)
    Detector(ws, store, settings, None).run()
    store.finish_scan(scan_id, "finished", {})
    _copies(ws, store, rng, store.start_scan({"targets": ["bench"], "crawl": False}), candidates, 24)
    match_ids = [m["id"] for m in store.matches()]
    # a third each: offers accepted (to pay), offers sent (to counter), matches left to review and enforce
    third = len(match_ids) // 3
    to_pay, counter_pages = [], []
    for n, match_id in enumerate(match_ids[:2 * third]):
        review_match(store, match_id, "confirmed", "bench")
        offer = offers.make_offer(ws, store, settings, match_id).record
        token = settlement.new_link(ws, store, offer["id"])
        if n < third:
            accepted = settlement.accept(store, settings, offer["id"], BUYER)
            to_pay.append((offer["id"], accepted["amount_minor"]))
        else:
            counter_pages.append("/o/" + token)
    api_token = tokens.create_token(store, "alice")[1]
    store.close()
    return Setup(ws, api_token, match_ids[2 * third:], counter_pages, to_pay)


def _answer(call) -> tuple[object, str | None]:
    try:
        response = call()
    except httpx.TransportError as e:  # a connection the server dropped counts as an error too
        return type(e).__name__, str(e)
    return response.status_code, None if response.status_code < 500 else response.text[:200]


def _counter(http: httpx.Client, page: str, rng: random.Random) -> tuple[object, str | None]:
    shown = http.get(page)
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    if shown.status_code >= 500 or csrf is None:
        return shown.status_code, None if shown.status_code < 500 else shown.text[:200]
    form = {"csrf": csrf.group(1), "amount": f"{rng.randint(10, 900)}.00", "name": BUYER.name,
            "organisation": BUYER.organisation, "email": BUYER.email}
    return _answer(lambda: http.post(page + "/counter", data=form))


def _pay_twice(http: httpx.Client, setup: Setup, lock: threading.Lock) -> list[tuple[object, str | None]]:
    """Two concurrent payments of half an accepted offer each, as a buyer and a bank import might."""
    with lock:
        if not setup.to_pay:
            return []
        offer_id, amount = setup.to_pay.pop()
        setup.paid.append(offer_id)
    halves = [amount // 2, amount - amount // 2]
    answers: list = [None, None]

    def pay(i: int) -> None:
        def post():
            response = http.post(f"/api/offers/{offer_id}/payments",
                                 json={"amount": f"{halves[i] / 100:.2f}", "reference": f"bench-{i}"})
            if response.status_code == 201:
                setup.created.append(response.json()["payment_id"])
            return response

        answers[i] = _answer(post)

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def client(url: str, setup: Setup, lock: threading.Lock, stop: threading.Event, seed: int, out: list) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {setup.token}"}, timeout=120) as http:
        while not stop.is_set():
            clock = time.perf_counter()
            kind = rng.choice(["review", "list", "counter", "pay"])
            if kind == "review":
                answers = [_answer(lambda: http.post(f"/api/matches/{rng.choice(setup.review_ids)}/review", json={
                    "status": rng.choice(["confirmed", "rejected"]), "note": "bench"}))]
            elif kind == "list":
                answers = [_answer(lambda: http.get("/api/matches", params={"limit": 50}))]
            elif kind == "counter" and setup.counter_pages:
                answers = [_counter(http, rng.choice(setup.counter_pages), rng)]
            else:
                answers = _pay_twice(http, setup, lock)
            for status, problem in answers:
                out.append((kind, status, time.perf_counter() - clock, problem and f"{kind}: {status} {problem}"))


def _command(*args: str, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from detector.cli import main; main()", *args, "--home",
                             str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lost_payments(store: Store, paid_offers: list[int], created: set[int]) -> list[str]:
    """Offers paid in full that are not `paid`, and payments answered 201 that the store lacks."""
    lost, stored = [], set()
    for offer_id in paid_offers:
        offer, payments = store.offer(offer_id), store.payments(offer_id)
        stored |= {p["id"] for p in payments}
        if sum(p["amount_minor"] for p in payments) >= offers.due_minor(offer) and offer["status"] != "paid":
            lost.append(f"offer {offer_id}: paid in full, status {offer['status']}")
    lost += [f"payment {p}: answered 201, not stored" for p in sorted(created - stored)]
    return lost


def run(clients: int, candidates: int, seed: int) -> dict:
    mailbox = _Mailbox()
    with socket.socket() as probe:  # aiosmtpd checks its server by connecting to the port it was given
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    with tempfile.TemporaryDirectory(prefix="copyhound-concurrency-") as tmp:
        setup = build(Path(tmp) / "ws", candidates, seed, smtp_port)
        home = setup.ws.home
        server = uvicorn.Server(uvicorn.Config(create_app(setup.ws), host="127.0.0.1", port=0, log_level="warning",
                                               lifespan="off"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        stop, lock, results = threading.Event(), threading.Lock(), []
        threads = [threading.Thread(target=client, args=(url, setup, lock, stop, seed + n, results))
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        clock = time.perf_counter()
        scan = _command("scan", "--no-crawl", "--json", home=home)
        enforce_runs = [_command("enforce", "--format", "json", home=home) for _ in range(2)]
        ended = [(p.wait(), *p.communicate()) for p in [scan, *enforce_runs]]
        seconds = time.perf_counter() - clock
        stop.set()
        for thread in threads:
            thread.join()
        server.should_exit = True
        store = open_store(setup.ws)
        left = len(store.candidates("state = 'new'"))
        lost = _lost_payments(store, setup.paid, set(setup.created))
        store.close()
    smtp.stop()
    latencies = sorted(seconds for _, _, seconds, _ in results)
    per_subject = Counter(mailbox.sent)
    errors = [r for r in results if not isinstance(r[1], int) or r[1] >= 500]
    return {
        "command": f"python -m benchmarks.concurrency --clients {clients} --candidates {candidates} --seed {seed}",
        "clients": clients, "candidates": candidates,
        "requests": len(results), "by_kind": dict(Counter(kind for kind, *_ in results)),
        "answers": {str(k): v for k, v in Counter(status for _, status, *_ in results).items()},
        "errors_5xx": len(errors), "first_errors": [problem for *_, problem in errors][:5],
        "emails": len(mailbox.sent), "duplicate_sends": sum(n - 1 for n in per_subject.values()),
        "offers_paid_twice_half": len(setup.paid), "lost_payments": len(lost), "first_lost": lost[:5],
        "latency_ms": {"p50": round(1000 * statistics.median(latencies), 1),
                       "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
                       "max": round(1000 * latencies[-1], 1)} if latencies else None,
        "scan_exit_code": ended[0][0], "enforce_exit_codes": sorted(code for code, *_ in ended[1:]),
        "seconds": round(seconds, 1), "candidates_left_undetected": left,
        "stderr_tails": [err[-300:] for code, _, err in ended if code not in (0, 3)],
        "machine": describe(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.clients, args.candidates, args.seed), indent=2))


if __name__ == "__main__":
    main()
