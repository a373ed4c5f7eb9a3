"""Pricing overrides an owner sets on the portal's profile page.

They are stored per owner in the workspace and laid over config.toml's [pricing] and the owner's
[pricing.OWNER] table, so every offer (CLI, portal, policy) is priced with them. Each value is
read and checked exactly as `copyhound config set pricing.NAME VALUE` and the config file would
be (detector.config), and the rules they make together as an offer checks them; a refused form
changes nothing. Every change goes into the ledger (kind `owner_settings`). The letter template
is left out: it names a file on the server, which is the operator's to choose.
"""

from __future__ import annotations

from dataclasses import fields, replace

from detector import config
from detector.config import PricingSettings
from detector.config.edit import parse
from detector.errors import ConfigError
from detector.evidence import ledger, offers
from detector.workspace.store import Store

EDITABLE = tuple(f.name for f in fields(PricingSettings) if f.name not in ("owners", "letter_template"))
MAX_VALUE = 500


def overrides(store: Store, owner_id: int) -> dict:
    return store.owner_pricing(owner_id)


def rules_for(store: Store, pricing: PricingSettings, owner: dict) -> PricingSettings:
    """The price rules for `owner`: [pricing], its [pricing.OWNER] table, then its own overrides."""
    return _apply(pricing.for_owner(owner["name"]), overrides(store, owner["id"]))


def _apply(rules: PricingSettings, values: dict) -> PricingSettings:
    if not values:
        return rules
    typed = config.from_dict({"pricing": values}).pricing  # lists become tuples, as from the file
    changed = {name: getattr(typed, name) for name in values}
    if "base_fees" in changed:  # as in [pricing.OWNER]: adds to (or replaces entries of) the fees
        changed["base_fees"] = {**rules.base_fees, **changed["base_fees"]}
    return replace(rules, **changed)


def set_overrides(store: Store, pricing: PricingSettings, owner: dict, texts: dict[str, str], actor: str) -> dict:
    """Replace the owner's overrides with the non-blank `texts` (NAME -> VALUE as typed); returns them.

    ConfigError (naming the setting) for a value the config file would refuse, or rules that
    an offer would refuse; nothing is stored then.
    """
    unknown = sorted(set(texts) - set(EDITABLE))
    if unknown:
        raise ConfigError(f"pricing.{unknown[0]} cannot be set here; the settings are "
                                 f"{', '.join(EDITABLE)}.")
    values = {}
    for name, text in texts.items():
        text = (text or "").strip()
        if len(text) > MAX_VALUE:
            raise ConfigError(f"pricing.{name} is longer than {MAX_VALUE} characters; shorten it.")
        if text:
            values[name] = parse(f"pricing.{name}", text)
    offers.check_rules(_apply(pricing.for_owner(owner["name"]), values))
    with store.atomic():
        store.set_owner_pricing(owner["id"], values)
        ledger.append(store, "owner_settings", ledger.owner_subject(owner["id"]), {"pricing": values, "by": actor})
    return values
