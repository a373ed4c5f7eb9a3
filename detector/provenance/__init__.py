"""Provenance: the record that makes the evidence trustworthy. `ledger` keeps every state change in a
hash chain, `signing` holds the workspace's Ed25519 key, `checkpoints` anchors the ledger outside the
workspace (signed heads, `timestamp` for RFC 3161 time-stamps, `merkle` for inclusion proofs), and
`certificate` certifies a registration from them."""
