"""The work's rights signals: IPTC and XMP fields written here with exiv2 (pyexiv2) into real JPEG,
PNG and WebP files, and a CAWG training-and-data-mining assertion signed here into a real C2PA manifest
(c2pa-python, a certificate chain made with `cryptography`); read back by `read_rights` and
`read_credentials`, compared with a copy, and said in words."""

from __future__ import annotations

import io
import json
import random

import c2pa
import pyexiv2
import pytest
from PIL import Image
from test_credentials import signer

from detector import cmi, demo_site
from detector.credentials import read_credentials, training_mining_terms
from detector.rights import RightsMetadata, read_rights
from detector.site_rights import site_sentences, site_signal

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"


def picture(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.open(demo_site.WORKS_DIR / "astronaut.jpg").convert("RGB").resize((96, 96)).save(out, fmt)
    return out.getvalue()


def with_rights(data: bytes, data_mining: str = PLUS_VOCAB + "DMI-PROHIBITED-AIMLTRAINING") -> bytes:
    """`data` with IPTC Core and PLUS rights fields, written the way photo tools write them (exiv2): in
    IPTC-IIM and mirrored in XMP (WebP has no IPTC-IIM block, only XMP)."""
    with pyexiv2.ImageData(data) as image:
        image.modify_iptc({"Iptc.Application2.Copyright": "© 2025 Alice Example",
                           "Iptc.Application2.Credit": "Alice Example / Studio A",
                           "Iptc.Application2.Byline": ["Alice Example"]})
        image.modify_xmp({"Xmp.xmpRights.WebStatement": "https://alice.example/licensing",
                          "Xmp.dc.rights": {'lang="x-default"': "© 2025 Alice Example"},
                          "Xmp.dc.creator": ["Alice Example"], "Xmp.photoshop.Credit": "Alice Example / Studio A",
                          "Xmp.plus.DataMining": data_mining,
                          "Xmp.plus.Licensor": 'type="Seq"'})
        image.modify_xmp({"Xmp.plus.Licensor[1]/plus:LicensorName": "Studio A Licensing",
                          "Xmp.plus.Licensor[1]/plus:LicensorURL": "https://studio-a.example/licence"})
        return image.get_bytes()


EXPECTED = RightsMetadata(creator="Alice Example", copyright="© 2025 Alice Example",
                          rights_url="https://alice.example/licensing", credit="Alice Example / Studio A",
                          licensor="Studio A Licensing", data_mining="DMI-PROHIBITED-AIMLTRAINING")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_iptc_and_xmp_rights_fields_written_by_exiv2_read_back_in_every_container(fmt):
    assert read_rights(with_rights(picture(fmt))) == EXPECTED


def test_the_licensors_address_stands_in_for_a_missing_web_statement_and_only_web_links_count():
    with pyexiv2.ImageData(picture("JPEG")) as image:
        image.modify_xmp({"Xmp.plus.Licensor": 'type="Seq"'})
        image.modify_xmp({"Xmp.plus.Licensor[1]/plus:LicensorURL": "https://studio-a.example/licence"})
        licensor_only = image.get_bytes()
    assert read_rights(licensor_only).rights_url == "https://studio-a.example/licence"
    with pyexiv2.ImageData(picture("JPEG")) as image:
        image.modify_xmp({"Xmp.xmpRights.WebStatement": "javascript:alert(1)"})
        hostile = image.get_bytes()
    assert read_rights(hostile).rights_url is None


def test_a_data_mining_value_outside_the_plus_vocabulary_is_kept_as_written_and_unreadable_files_have_none():
    assert read_rights(with_rights(picture("JPEG"), "no robots please")).data_mining == "no robots please"
    assert read_rights(b"GIF89a not really") == RightsMetadata()


def with_training_mining(data: bytes, by: str = "Alice Example") -> bytes:
    """`data` signed with a C2PA manifest carrying the CAWG training-and-data-mining assertion."""
    manifest = {"claim_generator_info": [{"name": "studio-app", "version": "1.0"}], "title": "astronaut.jpg",
                "assertions": [
                    {"label": "c2pa.actions", "data": {"actions": [{
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}},
                    {"label": "cawg.training-mining", "data": {"entries": {
                        "cawg.ai_training": {"use": "notAllowed"},
                        "cawg.ai_generative_training": {"use": "notAllowed"},
                        "cawg.data_mining": {"use": "constrained", "constraint_info": "ask studio-a.example"},
                        "cawg.ai_inference": {"use": "allowed"},
                        "cawg.unknown_future_use": {"use": "notAllowed"}}}}]}
    out = io.BytesIO()
    c2pa.Builder(json.dumps(manifest)).sign(signer(by), "image/jpeg", io.BytesIO(data), out)
    return out.getvalue()


def test_the_cawg_training_and_mining_assertion_is_read_from_a_signed_manifest():
    credentials = read_credentials(with_training_mining(with_rights(picture("JPEG"))))
    assert credentials.training_mining == {"ai_training": "notAllowed", "ai_generative_training": "notAllowed",
                                           "data_mining": "constrained", "ai_inference": "allowed"}
    assert training_mining_terms(credentials) == [
        "training AI models is not allowed", "training generative AI models is not allowed",
        "using it as input to AI models is allowed", "text and data mining is allowed only under stated constraints"]
    # Signing after exiv2 wrote the fields keeps both: the manifest binds the file as it was then.
    assert read_rights(with_training_mining(with_rights(picture("JPEG")))) == EXPECTED


def test_the_rights_signal_names_what_the_work_carried_and_what_the_copy_removed_or_altered():
    signed = with_training_mining(with_rights(picture("JPEG")))
    work, credentials = read_rights(signed).as_dict(), read_credentials(signed)
    stripped = read_rights(picture("JPEG")).as_dict()  # a re-encoded copy: every field gone
    signal = cmi.rights_signal(work, stripped, credentials)
    assert signal["removed"] == ["creator", "copyright", "credit", "rights_url", "licensor", "data_mining"]
    assert signal["altered"] == [] and signal["copy_read"] is True
    assert signal["work"]["data_mining"] == "DMI-PROHIBITED-AIMLTRAINING"
    assert signal["work_training_mining"]["ai_training"] == "notAllowed"
    altered = dict(work, credit="Stock Photos Inc")
    assert cmi.rights_signal(work, altered, None)["altered"] == ["credit"]
    assert cmi.rights_signal({}, stripped, None) is None

    lines = cmi.removal_sentences(cmi.compare_rights(work, stripped))
    assert ("The data-mining statement embedded in the registered file (\u201cDMI-PROHIBITED-AIMLTRAINING: it prohibits "
            "its use for training AI or machine-learning models\u201d) was removed from the copy.") in lines
    assert ("The licensor's name embedded in the registered file (\u201cStudio A Licensing\u201d) was removed from "
            "the copy.") in lines
    carried = cmi.carried_sentences(work, credentials)
    assert carried[0].startswith("The registered file carries this rights information in its metadata: the author's "
                                 "name (\u201cAlice Example\u201d); the copyright notice (\u201c\u00a9 2025 Alice "
                                 "Example\u201d); the credit line")
    assert carried[1] == ("Its Content Credentials declare that training AI models is not allowed; training "
                          "generative AI models is not allowed; using it as input to AI models is allowed; text and "
                          "data mining is allowed only under stated constraints.")
    assert cmi.carried_sentences(work, None, copy_kept_all=True)[-1] == "The copy keeps all of it."
    assert cmi.carried_sentences({}, None, copy_kept_all=True) == []


def test_the_site_signal_takes_tdmrep_json_before_the_header_and_the_header_before_the_meta_tag():
    declared = {"headers": {"tdm-reservation": "0", "x-robots-tag": "noindex, NoAI"},
                "meta": {"tdm-reservation": "0", "robots": "noimageai"},
                "tdmrep": {"status": "found", "location": "/gallery/*", "reservation": "1",
                           "policy": "https://site.example/tdm-policy.json"},
                "robots_txt": {"status": "read", "disallowed": ["GPTBot", "CCBot"]}}
    signal = site_signal(declared)
    assert signal == {"tdm": "reserved", "tdm_source": "tdmrep", "tdm_policy": "https://site.example/tdm-policy.json",
                      "ai_directives": ["noai", "noimageai"], "robots_ai_disallowed": ["GPTBot", "CCBot"],
                      "tdmrep_file": "found"}
    assert site_sentences(signal) == [
        ("The site reserves text-and-data-mining rights (TDMRep, in its /.well-known/tdmrep.json file); its policy "
        "is at https://site.example/tdm-policy.json."),
        "The site asks that its content not be used for AI (noai and noimageai robots directives).",
        "Its robots.txt disallows these AI crawlers from the page: GPTBot, CCBot."]
    header_only = site_signal(dict(declared, tdmrep={"status": "no_rule"}))
    assert (header_only["tdm"], header_only["tdm_source"]) == ("not_reserved", "header")
    image_only = site_signal({"tdmrep": {"status": "absent"}, "robots_txt": {"status": "not_read"}},
                             {"TDM-Reservation": "1", "X-Robots-Tag": "noimageai"})
    assert (image_only["tdm"], image_only["tdm_source"], image_only["ai_directives"]) == (
        "reserved", "image", ["noimageai"])
    nothing = site_signal({"tdmrep": {"status": "absent"}, "robots_txt": {"status": "read", "disallowed": []}})
    assert site_sentences(nothing) == [
        "The site does not reserve text-and-data-mining rights: it makes no TDMRep declaration.",
        "The site makes no noai or noimageai robots directive.",
        "Its robots.txt disallows none of the AI crawlers copyhound checks from the page."]
    assert site_signal(None) is None
    assert site_sentences(None) == ["The site's rights declarations were not read when the copy was captured."]
    hostile = site_signal({"headers": {"tdm-reservation": "1", "tdm-policy": "javascript:alert(1)"}})
    assert hostile["tdm_policy"] is None and site_signal({"meta": {"tdm-reservation": "yes"}})["tdm"] == "unclear"


def test_truncated_and_corrupted_files_never_stop_the_reader():
    """Files from the web: cut short or with bytes flipped, the reader gives what it can and never raises."""
    rng = random.Random(27)
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = with_rights(picture(fmt))
        for round_ in range(40):
            damaged = bytearray(data[:rng.randrange(len(data))] if round_ % 2 else data)
            for _ in range(0 if round_ % 2 else 20):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            assert isinstance(read_rights(bytes(damaged)), RightsMetadata)
