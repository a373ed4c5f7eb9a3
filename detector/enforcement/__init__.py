"""Enforcement that follows through: policies that act without a person for the clear cases.

- `policy`: the facts of a match and the owner's ordered rules; which rule fits and why.
- `recipients`: who should receive a notice (owner overrides, RDAP abuse contacts, security.txt).
- `addresses`: whether a string is one e-mail address a notice may go to (RFC 5321, no internal hosts).
- `fetch`: the bounded HTTP reads of recipient lookups (a deadline per request, a budget per site).
- `mailer`: notices and offers sent over SMTP, each delivery recorded.
- `run`: `copyhound enforce`: plan the actions under the hard limits, and take them.
- `cases`: the case of an infringing site and the compliance of each recipient.
"""
