"""A rights holder's legal details, and what each document needs of them before it may be made."""

from __future__ import annotations

from detector.errors import ActionRefused, UsageError
from detector.suggest import command
from detector.workspace.store import Store

PROFILE_FIELDS = ("legal_name", "address", "email", "phone", "signature", "jurisdiction")

# What each document must carry about the notifier: DMCA (c)(3)(A)(i) a signature and (iv)
# contact information; DSA 16(2)(c) a name and email address; an offer letter a name to sign with
# and an address to answer to.
NEEDED = {
    "dmca": ("legal_name", "address", "email", "signature"),
    "dsa": ("legal_name", "email"),
    "offer": ("legal_name", "email"),
}
#: What each document is called in a sentence, with its article.
DOCUMENT_NAMES = {"dmca": "a DMCA notice", "dsa": "a DSA notice", "offer": "a licensing offer"}


def set_profile(store: Store, owner_name: str, **values: str | None) -> dict:
    """Set owner profile fields (creating the owner if new); a value of None leaves a field as is,
    an empty string clears it. Returns the owner row."""
    unknown = sorted(set(values) - set(PROFILE_FIELDS))
    if unknown:
        raise UsageError(f"Unknown owner profile field(s) {', '.join(unknown)}; "
                         f"valid ones: {', '.join(PROFILE_FIELDS)}.")
    changes = {k: (v.strip() or None) for k, v in values.items() if v is not None}
    email = changes.get("email")
    if email is not None and (email.count("@") != 1 or any(c.isspace() for c in email)
                              or not all(email.split("@"))):
        raise UsageError(f"--email must be one address like name@example.org, got {email!r}.")
    owner = store.ensure_owner(owner_name)
    return store.update_owner(owner["id"], **changes) if changes else owner


def ensure_profile(owner: dict, purpose: str) -> None:
    """Refuse when the owner profile lacks a field `purpose` (dmca, dsa, offer) needs; names the fix."""
    missing = [name for name in NEEDED[purpose] if not (owner.get(name) or "").strip()]
    if missing:
        flags = [word for name in missing for word in (f"--{name.replace('_', '-')}", "...")]
        raise ActionRefused(
            f"Owner {owner['name']!r} has no {', '.join(missing)} in the profile, which "
            f"{DOCUMENT_NAMES[purpose]} must carry. Set them on the portal's Profile page (/profile), or "
            f"with `{command('owner', 'set', owner['name'], *flags)}`."
        )

