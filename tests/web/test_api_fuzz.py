"""The portal's JSON API fuzzed from its own OpenAPI schema by schemathesis, over real HTTP (uvicorn on
127.0.0.1): every operation, with an owner's token and without one, with valid and with invalid input.

Bounded and reproducible: EXAMPLES examples per operation and mode, derandomized (a fixed seed), no
shrinking. Two checks, the ones the portal promises for any input: no 5xx answer, and no answer
that breaks the schema it documents for its status.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES = 6
CHECKS = [not_a_server_error, response_schema_conformance]
bounded = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                   phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def fuzz(portal, headers: dict) -> tuple[int, list[str]]:
    """Run every operation's examples; returns how many operations ran and one line per failing operation."""
    schema = schemathesis.openapi.from_url(f"{portal.url}/openapi.json")
    operations, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @bounded
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                case.call_and_validate(base_url=portal.url, headers=headers, checks=CHECKS, timeout=60)
            try:
                run()
            except Unsatisfiable:
                continue  # an operation without parameters or body has no invalid input to send
            except Exception as e:  # noqa: BLE001 (schemathesis raises a group of check failures; each is reported)
                failures.append(f"{operation.label} ({mode.value}): {str(e)[:1500]}")
    return operations, failures


@pytest.mark.slow
@pytest.mark.parametrize("who", ["alice", None], ids=["with-token", "without-token"])
def test_no_input_gives_a_5xx_or_an_answer_outside_the_schema(fresh_portal, who):
    headers = {"Authorization": f"Bearer {fresh_portal.tokens[who]}"} if who else {}
    operations, failures = fuzz(fresh_portal, headers)
    assert operations >= 30
    assert failures == [], "\n\n".join(failures)
