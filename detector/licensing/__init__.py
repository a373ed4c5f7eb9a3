"""Licensing that closes: from an offer to a paid licence and each contributor's share of it.

- `offers`: pricing a match (`price`, with `demand` and `placement`), the offer letter, and every offer
  status change.
- `owner_pricing`: the price rules an owner lays over config.toml's [pricing], and `check_rules`.
- `money`: amounts as integer minor units (cents), parsed and printed exactly.
- `splits`: dividing a payment among contributors (agency commission first, largest remainder).
- `contributors`: who made a work and their shares, each set in force from a date.
- `negotiation`: answering a counter-offer at once within the owner's floor and rules.
- `links`: the signed, revocable link of an offer's public page.
- `settlement`: sending, viewing, accepting, countering and paying an offer; the paid licence.
- `documents`: the invoice and the licence certificate (HTML).
- `webhook`: verifying a payment provider's signed (HMAC-SHA256, timestamped) notification.
- `statements`: per contributor and period, one row per payment (CSV or HTML).
"""
