"""Evidence: the documents a match becomes. `case` loads a match's case and holds what every document shares;
`report`/`pdf`, `notices` and `bundle` (with `bundle_readme`, and `wacz_export` for replay, signed by
`wacz_signing`) make the documents, `bundle_check` and `wacz_check` verify a bundle or a WACZ with nothing
but the file, `region` and `explain` say
where and why it is a copy, `review` records a reviewer's decision, `profile` the owner's legal details.
The record they rest on is detector.provenance; offers are detector.licensing's."""
