"""Usage errors: one line on stderr naming the command and its help, exit code 2, never a traceback."""

from __future__ import annotations

import pytest
from support import invoke_cli


@pytest.mark.parametrize("args, line", [
    (["bogus"], "error: copyhound: No such command 'bogus'. Run `copyhound --help` for usage."),
    (["matches", "--bogus"],
     "error: copyhound matches: No such option: --bogus. Run `copyhound matches --help` for usage."),
    (["report"], "error: copyhound report: Missing argument 'MATCH'. Run `copyhound report --help` for usage."),
    (["report", "abc"], ("error: copyhound report: Invalid value for 'MATCH': Input should be a valid integer, "
                        "unable to parse string as an integer. Run `copyhound report --help` for usage.")),
    (["config", "set"], ("error: copyhound config set: Missing argument 'KEY'. "
                        "Run `copyhound config set --help` for usage.")),
])
def test_a_usage_error_is_one_line_and_exit_2(args, line):
    result = invoke_cli(*args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""


def test_a_group_without_a_command_shows_its_help():
    result = invoke_cli("owner")
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert "set" in result.stdout and "Rights holders' profiles" in result.stdout


def test_a_missing_extra_names_the_pip_command():
    from detector.cli.common import require_extra
    from detector.errors import ExtraMissing

    with pytest.raises(ExtraMissing) as e:
        require_extra("portal", "fastapi", "no_such_module_for_copyhound")
    assert str(e.value) == ("This command needs the 'portal' extra (no_such_module_for_copyhound not installed): "
                            "pip install 'copyhound[portal]'.")
    assert e.value.exit_code == 3
