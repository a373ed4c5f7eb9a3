"""Enforcement that follows through: policies that act without a person for the clear cases.

- `policy`: the facts of a match and the owner's ordered rules; which rule fits and why.
- `recipients`: who should receive a notice (owner overrides, RDAP abuse contacts, security.txt).
- `mailer`: notices and offers sent over SMTP, each delivery recorded.
- `run`: `copyhound enforce`: plan the actions under the hard limits, and take them.
- `cases`: the case of an infringing site and the compliance of each recipient.
"""
