from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config


def test_defaults_validate_and_user_file_overrides_part(tmp_path: Path):
    user = tmp_path / "my.yaml"
    user.write_text("load:\n  min_words: 5\nspacy:\n  model: my_model\n", encoding="utf-8")
    cfg = load_config(user)
    assert cfg.load.min_words == 5
    assert cfg.spacy.model == "my_model"
    # Keys the user did not set keep their packaged defaults.
    assert cfg.load.max_file_bytes == load_config().load.max_file_bytes


@pytest.mark.parametrize(
    "text, message",
    [
        ("load:\n  min_wrods: 5\n", "min_wrods"),  # typo: unknown keys are errors
        ("load:\n  min_words: -1\n", "min_words"),
        ("clean:\n  line_patterns:\n    bad: '(['\n", "not a valid regex"),
        ("- a list\n", "must be a YAML mapping"),
    ],
)
def test_invalid_user_config_is_a_clear_error(tmp_path: Path, text: str, message: str):
    user = tmp_path / "bad.yaml"
    user.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(user)


def test_missing_config_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
