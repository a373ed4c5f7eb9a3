"""Pricing overrides an owner sets on the portal's profile page.

They are stored per owner in the workspace and laid over config.toml's [pricing] and the owner's
[pricing.OWNER] table, so every offer (CLI, portal, policy) is priced with them. Each value is
read and checked exactly as `copyhound config set pricing.NAME VALUE` and the config file would
be (detector.config), and the rules they make together by `check_rules`, as every offer checks them;
a refused form changes nothing. Every change goes into the ledger (kind `owner_settings`). The letter template
is left out: it names a file on the server, which is the operator's to choose.
"""

from __future__ import annotations

from dataclasses import fields, replace

from detector import config
from detector.config import PricingSettings
from detector.config.edit import parse
from detector.errors import ConfigError
from detector.provenance import ledger
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


def check_rules(rules: PricingSettings) -> None:
    """ConfigError, naming the setting, for price rules no offer can be priced by."""
    if len(rules.size_multipliers) != len(rules.size_bands) + 1:
        raise ConfigError(
            f"pricing.size_multipliers needs one more entry than pricing.size_bands (one per band, the "
            f"last for sizes above the last limit); got {len(rules.size_multipliers)} and "
            f"{len(rules.size_bands)}. Fix config.toml."
        )
    if len(rules.placement_multipliers) != len(rules.placement_bands) + 1:
        raise ConfigError(
            f"pricing.placement_multipliers needs one more entry than pricing.placement_bands (one per band, the "
            f"last for wider copies); got {len(rules.placement_multipliers)} and {len(rules.placement_bands)}. "
            "Fix config.toml."
        )
    if list(rules.placement_bands) != sorted(rules.placement_bands) or any(not 0 < b <= 1 for b in rules.placement_bands):
        raise ConfigError(f"pricing.placement_bands must be ascending shares of the page width above 0 and at most 1, "
                          f"got {list(rules.placement_bands)}. Fix config.toml.")
    if list(rules.size_bands) != sorted(rules.size_bands):
        raise ConfigError(f"pricing.size_bands must be ascending, got {list(rules.size_bands)}. Fix config.toml.")
    if not 0 <= rules.early_discount_percent < 100:
        raise ConfigError(f"pricing.early_discount_percent must be from 0 to below 100, got "
                          f"{rules.early_discount_percent}. Fix config.toml.")
    if len(rules.currency) != 3 or not rules.currency.isalpha():
        raise ConfigError(f"pricing.currency must be a 3-letter ISO 4217 code like EUR, got {rules.currency!r}.")


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
    check_rules(_apply(pricing.for_owner(owner["name"]), values))
    with store.atomic():
        store.set_owner_pricing(owner["id"], values)
        ledger.append(store, "owner_settings", ledger.owner_subject(owner["id"]), {"pricing": values, "by": actor})
    return values
