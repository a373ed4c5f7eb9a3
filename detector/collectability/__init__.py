"""Collectability triage: how worth acting on a match is, as a score in [0, 1] with its factors.

Not a trained model: each factor is a stated rule (docs/enforcement.md, "Collectability") over data
copyhound already has. `factors` holds the rules, `hosting` the hosting network's country (RDAP,
cached and bounded), `assess` gathers a match's facts, scores it and stores the result, which the
CLI and the portal show and sort by and enforcement rules can require.
"""
