"""Evidence: the documents a match becomes. `case` loads a match's case and holds what every document shares;
`report`/`pdf`, `notices` and `bundle` (with `bundle_readme`, and `wacz_export` for replay) make the
documents, `bundle_check` verifies a bundle with nothing but the bundle, `region` and `explain` say
where and why it is a copy, `review` records a reviewer's decision, `profile` the owner's legal details.
The record they rest on is detector.provenance; offers are detector.licensing's."""
