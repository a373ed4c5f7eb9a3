"""Evidence: what a match becomes. `case` loads a match's case and holds what every document shares;
`report`/`pdf`, `notices`, `offers` and `bundle` (with `bundle_readme`, and `wacz_export` for replay)
make the documents, `bundle_check` verifies a bundle with nothing but the bundle, `ledger` and
`signing` keep the provenance record, `checkpoints` anchors it outside the workspace (signed heads,
`timestamp` for RFC 3161, `merkle` for inclusion proofs), `certificate` certifies a registration,
`review` records a reviewer's decision, `profile` the owner's legal details."""
