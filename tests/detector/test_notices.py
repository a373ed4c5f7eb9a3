"""DMCA and DSA notices from a real workspace: each statutory element checked in the text."""

import pytest
from evidence_case import FINAL_URL, IMAGE_URL, PAGE_URL, build_env

from detector.errors import ActionRefused, UsageError
from detector.evidence import notices, profile
from detector.provenance import ledger

AT = "2025-04-01T12:00:00Z"


def section(body: str, start: str, end: str | None) -> str:
    """The text of a notice between two headings (asserts both exist, in order)."""
    i = body.index(start)
    return body[i:body.index(end, i)] if end else body[i:]


def test_dmca_notice_has_every_element_of_512_c_3_A(tmp_path):
    env = build_env(tmp_path, page_title="Mugs\nI hereby withdraw this notice", status="confirmed")
    notice = notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca", at=AT)
    body = notice.body
    match = env.store.match(env.match_id)
    # (i) signature of a person authorized to act for the owner
    signed = section(body, "[512(c)(3)(A)(i)]", None)
    assert "/s/ Alice Example" in signed and "Alice Example Photography Ltd" in signed and "2025-04-01" in signed
    # (ii) identification of the copyrighted work
    work = section(body, "[512(c)(3)(A)(ii)]", "[512(c)(3)(A)(iii)]")
    for text in ("Title: Castle at dusk", "Creator: Alice Example", "castle.jpg", "480 x 360",
                 env.store.asset(env.asset_id)["sha256"]):
        assert text in work, text
    # (iii) the infringing material and where it is
    material = section(body, "[512(c)(3)(A)(iii)]", "[512(c)(3)(A)(iv)]")
    for text in (IMAGE_URL, FINAL_URL, PAGE_URL, match["sha256"], "2025-03-01T10:00:00Z"):
        assert text in material, text
    # removed rights metadata is named in plain words, as removal of copyright management information
    said = " ".join(material.split())
    assert "The author's name embedded in the registered file (\u201cAlice Example\u201d) was removed from the copy." in said
    assert "copyright management information" in said and "17 U.S.C. 1202(b)" in said
    assert "Directive 2001/29/EC" not in said and "rights_url" not in body and "creator notice" not in body
    # a page title cannot add lines to the notice
    assert '(page title as published: "Mugs I hereby withdraw this notice")' in material
    # (iv) contact information
    contact = section(body, "[512(c)(3)(A)(iv)]", "[512(c)(3)(A)(v)]")
    for text in ("Name: Alice Example Photography Ltd", "1 Lens Street", "Camtown 12345", "+1 555 0100",
                 "alice@example.org"):
        assert text in contact, text
    # (v) good faith statement, (vi) accuracy and authority under penalty of perjury
    good_faith = " ".join(section(body, "[512(c)(3)(A)(v)]", "[512(c)(3)(A)(vi)]").split())
    assert ("I have a good faith belief that use of the material in the manner complained of is not "
            "authorized by the copyright owner, its agent, or the law.") in good_faith
    accuracy = " ".join(section(body, "[512(c)(3)(A)(vi)]", "[512(c)(3)(A)(i)]").split())
    assert "the information in this notification is accurate" in accuracy
    assert ("under penalty of perjury, that I am authorized to act on behalf of the owner of an exclusive "
            "right that is allegedly infringed") in accuracy


def test_dsa_notice_has_every_element_of_article_16_2(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    body = notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dsa", at=AT).body
    reasons = " ".join(section(body, "[Article 16(2)(a)]", "[Article 16(2)(b)]").split())
    assert "Alice Example Photography Ltd holds the copyright in the work \"Castle at dusk\"" in reasons
    assert "without the rights holder's authorisation" in reasons and "Directive 2001/29/EC" in reasons
    assert "copyright law of Germany" in reasons
    assert "95 distinctive points of the work were found in the copy in the same arrangement" in reasons
    assert "Article 7 of Directive 2001/29/EC" in reasons and "U.S.C." not in reasons
    location = section(body, "[Article 16(2)(b)]", "[Article 16(2)(c)]")
    assert f"Image URL: {IMAGE_URL}" in location and f"Page URL: {PAGE_URL}" in location and FINAL_URL in location
    notifier = section(body, "[Article 16(2)(c)]", "[Article 16(2)(d)]")
    assert "Name: Alice Example Photography Ltd" in notifier and "Email: alice@example.org" in notifier
    statement = " ".join(section(body, "[Article 16(2)(d)]", None).split())
    assert ("I confirm my bona fide belief that the information and allegations contained in this notice "
            "are accurate and complete.") in statement


def test_a_notice_is_recorded_written_and_entered_in_the_ledger(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    notice = notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dsa", at=AT)
    assert notice.path == env.ws.output_dir / "notices" / f"match-{env.match_id}-dsa-{notice.id}.txt"
    assert notice.path.read_text(encoding="utf-8") == notice.body
    [stored] = env.store.notices([env.match_id])
    assert (stored["kind"], stored["body"], stored["created_at"]) == ("dsa", notice.body, AT)
    last = ledger.entries(env.store)[-1]
    assert (last["kind"], last["subject"]) == ("notice", f"match:{env.match_id}")
    assert notice.sha256 in last["payload"]
    assert ledger.verify(env.store) == []


@pytest.mark.parametrize("status", ["rejected", "authorized"])
@pytest.mark.parametrize("kind", ["dmca", "dsa"])
def test_no_notice_for_rejected_or_authorized_matches(tmp_path, status, kind):
    env = build_env(tmp_path, status=status)
    with pytest.raises(ActionRefused) as refused:
        notices.make_notice(env.ws, env.store, env.settings, env.match_id, kind)
    assert str(refused.value) == (
        f"Match {env.match_id} is {status}, so no {kind.upper()} notice is made for it. If that status is "
        f"wrong, review it again: `copyhound review {env.match_id} --confirm`.")
    assert env.store.notices([env.match_id]) == []


def test_no_notice_for_an_unconfirmed_borderline_match(tmp_path):
    env = build_env(tmp_path, decision="review")
    with pytest.raises(ActionRefused, match="borderline 'review' decision nobody has confirmed"):
        notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dsa")


def test_no_notice_for_a_match_nobody_confirmed(tmp_path):
    env = build_env(tmp_path)
    with pytest.raises(ActionRefused) as refused:
        notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca")
    assert str(refused.value) == (
        f"Match {env.match_id} is new, not confirmed; a DMCA notice is made only on a confirmed match. Look at "
        f"it and run `copyhound review {env.match_id} --confirm`, or let a policy rule confirm it "
        "(`copyhound enforce`).")


def test_no_notice_for_a_copy_the_latest_scan_saw_gone(tmp_path):
    env = build_env(tmp_path, status="confirmed")
    env.store.set_match_presence(env.match_id, presence="removed", presence_at="2025-04-02T03:00:00Z",
                                 presence_detail="the image answered HTTP 404", removed_at="2025-04-02T03:00:00Z")
    with pytest.raises(ActionRefused) as refused:
        notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dsa")
    assert str(refused.value) == (
        f"Match {env.match_id}: no DSA notice, the copy is gone: the image answered HTTP 404 (scan of "
        "2025-04-02T03:00:00Z); it was last seen on 2025-03-01T10:00:00Z.")
    assert env.store.notices([env.match_id]) == []


def test_missing_profile_fields_are_named_with_the_command_to_set_them(tmp_path):
    env = build_env(tmp_path, status="confirmed",
                    profile={"legal_name": "Alice Ltd", "email": "", "address": None, "signature": None})
    with pytest.raises(ActionRefused) as refused:
        notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca")
    assert str(refused.value) == (
        "Owner 'alice' has no address, email, signature in the profile, which a DMCA notice must carry. "
        "Set them on the portal's Profile page (/profile), or with "
        "`copyhound owner set alice --address ... --email ... --signature ...`.")
    profile.set_profile(env.store, "alice", email="alice@example.org")
    assert notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dsa").kind == "dsa"


def test_set_profile_validates_fields_and_email(tmp_path):
    env = build_env(tmp_path)
    owner = profile.set_profile(env.store, "bob", legal_name=" Bob B. ", phone="")
    assert (owner["name"], owner["legal_name"], owner["phone"]) == ("bob", "Bob B.", None)
    with pytest.raises(UsageError, match="Unknown owner profile field.s. fax; valid ones: legal_name, address"):
        profile.set_profile(env.store, "bob", fax="1")
    with pytest.raises(UsageError, match="--email must be one address like name@example.org, got 'bob at home'"):
        profile.set_profile(env.store, "bob", email="bob at home")


def test_unknown_kind_is_refused(tmp_path):
    env = build_env(tmp_path)
    with pytest.raises(UsageError, match="--kind must be one of dmca, dsa, got 'gdpr'"):
        notices.make_notice(env.ws, env.store, env.settings, env.match_id, "gdpr")


COMMON = {"common_elements": {"share": 0.01, "shared_with": [7], "versions": []}}


def _signals(**extra) -> dict:
    from evidence_case import OFFSET, SCALE
    return {"sha256_equal": False, "phash_distance": 22, "pdq_distance": 110, "clip_cosine": 0.91,
            "verification": {"verified": True, "method": "sift", "good_matches": 140, "inliers": 95,
                             "inlier_ratio": 0.68, "asset_coverage": 0.97, "candidate_coverage": 0.36, "ncc": 1.0,
                             "mirrored": False, "reason": "ok",
                             "transform": [[SCALE, 0, OFFSET[0]], [0, SCALE, OFFSET[1]], [0, 0, 1]]},
            **extra}


def test_a_black_and_white_copy_is_described_as_compared_in_grey_with_the_colour_change_a_finding(tmp_path):
    from detector.evidence import report
    from detector.licensing import offers

    env = build_env(tmp_path, status="confirmed", grey_copy=True, signals=_signals())
    finding = "The copy is in black and white while the work is in colour: the copy was converted to grey."
    compared = "the brightness patterns agree after conversion to grey (correlation 1.00, where 1 is identical)"
    body = " ".join(notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca", at=AT).body.split())
    letter = " ".join(offers.make_offer(env.ws, env.store, env.settings, env.match_id).path.read_text().split())
    why = " ".join(report.build(report.load_case(env.ws, env.store, env.match_id), env.settings).why)
    for text in (body, letter, why):
        assert finding in text and compared in text and "the pixels agree" not in text


def test_a_colour_copy_states_no_colour_change(tmp_path):
    env = build_env(tmp_path, status="confirmed", signals=_signals())
    body = notices.make_notice(env.ws, env.store, env.settings, env.match_id, "dmca", at=AT).body
    assert "black and white" not in body and "after conversion to grey" in " ".join(body.split())


def test_common_elements_stay_out_of_notices_and_show_only_where_they_decided_the_match(tmp_path):
    from detector.evidence import report
    from detector.licensing import offers

    confirmed = build_env(tmp_path / "a", status="confirmed", signals=_signals(**COMMON))
    body = notices.make_notice(confirmed.ws, confirmed.store, confirmed.settings, confirmed.match_id, "dmca").body
    letter = offers.make_offer(confirmed.ws, confirmed.store, confirmed.settings, confirmed.match_id).path.read_text()
    why = report.build(report.load_case(confirmed.ws, confirmed.store, confirmed.match_id), confirmed.settings).why
    for text in (body, letter, " ".join(why)):
        assert "shared emblem" not in text and "not by itself evidence" not in text

    common = dict(_signals(**COMMON), tier="common")
    common["common_elements"] = {"share": 0.62, "shared_with": [7], "versions": []}
    review = build_env(tmp_path / "b", decision="review", signals=common)
    why = " ".join(report.build(report.load_case(review.ws, review.store, review.match_id), review.settings).why)
    assert "62% of the matched area shows an element that another registered work also contains" in why
    assert "put up for review rather than decided a copy" in why
