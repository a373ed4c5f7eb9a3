import tomllib
from pathlib import Path

import pytest

from detector import config
from detector.errors import ConfigError

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"


def test_every_setting_has_help_and_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    for section, name, _default, help_text in config.documented_fields():
        assert help_text.strip(), f"{section}.{name} has no help"
        assert f"`{section}.{name}`" in text, f"docs/configuration.md does not mention {section}.{name}"


def test_rendered_file_loads_back_to_the_defaults():
    settings = config.Settings()
    assert config.from_dict(tomllib.loads(config.render_toml(settings))) == settings


def test_rendered_file_keeps_targets():
    target = config.Target(name="blog", start_urls=("https://blog.example/",), allow_private=True)
    settings = config.Settings(targets=(target,))
    assert config.from_dict(tomllib.loads(config.render_toml(settings))).targets == (target,)


def test_rendered_file_keeps_sources():
    source = config.SourceConfig(name="cc", type="common_crawl", urls=("blog.example/*",),
                                 collections=("CC-MAIN-2026-05",), monthly_budget=100)
    settings = config.Settings(sources=(source,))
    assert config.from_dict(tomllib.loads(config.render_toml(settings))).sources == (source,)


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        config.from_dict({"match": {"match_treshold": 0.9}})
    assert "config.match: unknown setting(s) match_treshold" in str(e.value)
    assert "match_threshold" in str(e.value)


@pytest.mark.parametrize("data, message", [
    ({"crawl": {"max_pages": "many"}}, "config.crawl.max_pages must be int, got str: 'many'"),
    ({"crawl": {"obey_robots": 1}}, "config.crawl.obey_robots must be bool, got int: 1"),
    ({"targets": {"name": "x"}}, "config.targets must be a list, got dict: {'name': 'x'}"),
])
def test_wrong_types_name_the_setting(data, message):
    with pytest.raises(ConfigError) as e:
        config.from_dict(data)
    assert str(e.value) == message


@pytest.mark.parametrize("data, message", [
    ({"pricing": {"currency": "euro"}}, "config.pricing.currency must be an ISO 4217 code of three capital letters"),
    ({"pricing": {"alice": {"currency": "eur"}}}, "config.pricing.alice.currency must be an ISO 4217 code"),
    ({"match": {"match_threshold": 2}}, "config.match.match_threshold must be between 0 and 1, got 2"),
    ({"pricing": {"size_multipliers": [1, -1, 2]}}, "config.pricing.size_multipliers must be at least 0, got -1.0"),
    ({"pricing": {"early_discount_percent": 120}}, "config.pricing.early_discount_percent must be between 0 and 100"),
])
def test_values_outside_what_a_setting_means_are_refused_when_the_file_loads(tmp_path, data, message):
    path = tmp_path / "config.toml"
    section, values = next(iter(data.items()))
    path.write_text(f"[{section}]\n" + "".join(f"{k} = {config.toml_value(v)}\n" for k, v in values.items()
                                                if not isinstance(v, dict))
                    + "".join(f"[{section}.{k}]\n" + "".join(f"{n} = {config.toml_value(x)}\n" for n, x in v.items())
                              for k, v in values.items() if isinstance(v, dict)))
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value).startswith(message)


def test_int_is_accepted_where_a_float_is_expected():
    assert config.from_dict({"match": {"match_threshold": 1}}).match.match_threshold == 1.0


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[match\n")
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(path) in str(e.value)


def test_the_old_name_of_embedder_threads_is_still_read():
    assert config.from_dict({"embedder": {"torch_threads": 3}}).embedder.threads == 3


def test_old_and_new_name_of_a_setting_together_are_refused():
    with pytest.raises(ConfigError) as e:
        config.from_dict({"embedder": {"torch_threads": 3, "threads": 2}})
    assert str(e.value) == "config.embedder: torch_threads is the old name of threads; keep only threads."
