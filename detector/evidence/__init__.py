"""Evidence: what a match becomes. `case` loads a match's case and holds what every document shares;
`report`/`pdf`, `notices`, `offers` and `bundle` make the documents, `bundle_check` verifies a bundle
with nothing but the bundle, `ledger` and `signing` keep the provenance record, `review` records a
reviewer's decision, `profile` the owner's legal details."""
