"""Content Credentials (C2PA manifests) embedded in the registered file and in the copy.

Read with c2pa-python (the C2PA project's own reader, which also validates the manifest's
signature and hashes). A registered work's credentials missing from the copy are removed
copyright management information, like a stripped EXIF copyright; a copy's own manifest, for
instance one claiming another author, is shown in the report as it reads. A copy's manifest
comes from the web: every string taken from it is cut to one short line.

They are read when a work is registered and when a copy is detected, stored with the asset and the
candidate (`to_record`), and a match's signals say what became of them (`credentials_signal`), so
a work's credentials missing from its copy show wherever the match does, not only in its report.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import c2pa
from cryptography import x509

from detector.config import Settings
from detector.errors import ConfigError
from detector.sniff import sniff
from detector.text import oneline

#: Image formats (as detector.sniff names them) that C2PA embeds manifests in, with their media types.
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
               "tiff": "image/tiff"}
_MAX_CHARS = 200
#: The uses the CAWG training-and-data-mining assertion speaks of, in words.
TRAINING_MINING = {
    "ai_training": "training AI models",
    "ai_generative_training": "training generative AI models",
    "ai_inference": "using it as input to AI models",
    "data_mining": "text and data mining",
}
#: What each of its answers says, in words.
USES = {"allowed": "allowed", "notAllowed": "not allowed", "constrained": "allowed only under stated constraints"}
# The CAWG's label, and the C2PA's from before the CAWG took the assertion over (each may be versioned).
_TRAINING_MINING_LABELS = ("cawg.training-mining", "c2pa.training-mining")


def _short(value) -> str | None:
    text = oneline(value)[:_MAX_CHARS]
    return text or None


@dataclass(frozen=True)
class Credentials:
    """The active manifest of a file: who signed it, who it names as author, and whether it validates.

    validation is the reader's verdict: 'Valid' (intact, signer not on a trust list), 'Trusted',
    'Invalid', or 'Unreadable' when the manifest could not be parsed (problems say why).
    """

    label: str | None
    signer: str | None
    issuer: str | None
    signed_at: str | None
    authors: list[str] = field(default_factory=list)
    title: str | None = None
    generator: str | None = None
    validation: str = "Valid"
    problems: list[str] = field(default_factory=list)
    # The CAWG training-and-data-mining assertion: {"ai_training": "notAllowed", ...} (see TRAINING_MINING).
    training_mining: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One sentence-part: signed by whom, naming whom as author."""
        parts = [f"signed by {self.signer or 'an unnamed signer'}" + (f" ({self.issuer})" if self.issuer else "")]
        if self.signed_at:
            parts.append(f"on {self.signed_at}")
        if self.authors:
            parts.append("naming " + ", ".join(self.authors) + " as author")
        return " ".join(parts)


def trust_anchors(settings: Settings) -> str | None:
    """The PEM text of evidence.c2pa_trust_anchors, or None when none is configured; ConfigError names
    a file that is missing or holds no certificate."""
    return _anchors(settings.evidence.c2pa_trust_anchors)


@lru_cache(maxsize=4)
def _anchors(path: str) -> str | None:
    if not path:
        return None
    try:
        pem = Path(path).expanduser().read_bytes()
        x509.load_pem_x509_certificates(pem)
        return pem.decode("utf-8")
    except (OSError, ValueError) as e:
        raise ConfigError(f"evidence.c2pa_trust_anchors {path!r} holds no readable PEM certificate ({e}); point it "
                          "at a PEM file of the CA certificates whose signers you trust, or leave it empty.") from e


def read_credentials(data: bytes, anchors: str | None = None) -> Credentials | None:
    """The file's Content Credentials, or None when it carries none (or its format cannot). With
    `anchors` (PEM CA certificates, see `trust_anchors`), a signer whose certificate chains to one of
    them reads 'Trusted'."""
    media_type = MEDIA_TYPES.get(sniff(data) or "")
    if media_type is None:
        return None
    try:
        if anchors:
            context = c2pa.Context(c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors}}))
            reader = c2pa.Reader(media_type, io.BytesIO(data), context=context)
        else:
            reader = c2pa.Reader(media_type, io.BytesIO(data))
        store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return None
    except (c2pa.C2paError, ValueError) as e:
        return Credentials(None, None, None, None, validation="Unreadable", problems=[_short(e) or type(e).__name__])
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest")) or {}
    signature = manifest.get("signature_info") or {}
    authors, training_mining = [], {}
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        if label.startswith("stds.schema-org.CreativeWork"):
            for author in (assertion.get("data") or {}).get("author") or []:
                name = _short(author.get("name") if isinstance(author, dict) else author)
                if name:
                    authors.append(name)
        elif label.startswith(_TRAINING_MINING_LABELS):
            training_mining.update(_training_mining(assertion.get("data")))
    generators = manifest.get("claim_generator_info") or [{}]
    generator = generators[0] if isinstance(generators[0], dict) else {}
    return Credentials(
        label=_short(manifest.get("label")), signer=_short(signature.get("common_name")),
        issuer=_short(signature.get("issuer")), signed_at=_short(signature.get("time")), authors=authors[:10],
        title=_short(manifest.get("title")),
        generator=_short(" ".join(str(generator.get(k, "")) for k in ("name", "version"))),
        validation=_short(store.get("validation_state")) or "Unknown",
        problems=[_short(s.get("code")) for s in store.get("validation_status") or [] if isinstance(s, dict)][:10],
        training_mining=training_mining,
    )


def _training_mining(data) -> dict[str, str]:
    """The known uses of a training-and-data-mining assertion and their answers (unknown ones are left out)."""
    entries = data.get("entries") if isinstance(data, dict) else None
    found = {}
    for key, entry in (entries if isinstance(entries, dict) else {}).items():
        use = str(key).split(".", 1)[-1]  # "cawg.ai_training" or "c2pa.ai_training"
        answer = entry.get("use") if isinstance(entry, dict) else None
        if use in TRAINING_MINING and answer in USES:
            found[use] = answer
    return found


def training_mining_terms(credentials: Credentials | None) -> list[str]:
    """What a file's Content Credentials say of AI training and data mining, one phrase per use
    ("training AI models is not allowed"); empty when they say nothing."""
    if credentials is None:
        return []
    found = credentials.training_mining
    return [f"{words} is {USES[found[use]]}" for use, words in TRAINING_MINING.items() if use in found]


def credentials_sentences(work: Credentials | None, copy: Credentials | None) -> tuple[list[str], list[str]]:
    """(removed, found): sentences on the work's credentials missing from the copy (removed
    copyright management information), and on credentials the copy carries of its own."""
    removed, found = [], []
    if work is not None and (copy is None or copy.label != work.label):
        removed.append(f"The registered file carries Content Credentials (a C2PA manifest {work.describe()}); "
                       + ("the copy carries none: they were removed." if copy is None else
                          "the copy does not: they were removed, and other credentials put in their place."))
    if copy is not None and (work is None or copy.label != work.label):
        found.append(f"The copy carries Content Credentials of its own (a C2PA manifest {copy.describe()}); "
                     f"the C2PA reader finds them {copy.validation.lower()}"
                     + (f" ({', '.join(copy.problems)})" if copy.problems else "") + ".")
    return removed, found


def to_record(credentials: Credentials | None) -> dict:
    """The stored form: the fields of the manifest read, or {} for a file that carries none."""
    return asdict(credentials) if credentials is not None else {}


def from_record(record: dict | None) -> Credentials | None:
    return Credentials(**record) if record else None


def credentials_signal(work: Credentials | None, copy: Credentials | None) -> dict | None:
    """What a match's signals say of Content Credentials, or None when neither file carries any.

    verdict: 'kept' (the copy carries the work's manifest), 'removed' (the work's are gone, the copy
    carries none), 'replaced' (the work's are gone, the copy carries other ones), 'copy_only' (the
    work has none; the copy carries its own)."""
    if work is None and copy is None:
        return None
    if work is None:
        verdict = "copy_only"
    elif copy is None:
        verdict = "removed"
    else:
        verdict = "kept" if copy.label == work.label else "replaced"
    return {"verdict": verdict, "work": work.describe() if work else None,
            "copy": copy.describe() if copy else None, "copy_validation": copy.validation if copy else None}
