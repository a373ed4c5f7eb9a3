"""The CLI starts without loading the heavy libraries its commands use: every `copyhound` call (and every test
that runs one in a child process) pays for what `detector.cli` imports at startup."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scrapy", "twisted", "fastapi", "uvicorn", "cv2", "faiss", "torch", "open_clip", "reportlab", "weasyprint",
         "redis", "celery", "warcio", "PIL", "jinja2", "httpx", "psycopg", "cryptography", "onnxruntime")


def test_importing_the_cli_loads_no_heavy_library():
    # A fresh interpreter: this test process has long since imported most of them.
    code = f"import sys, json, detector.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    assert loaded == [], f"detector.cli imports {loaded} at startup; import them inside the command that needs them"
