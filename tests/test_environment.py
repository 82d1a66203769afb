"""Dotenv files as `invoke --env-file` reads them, and the caller's credentials for `--aws-credentials`."""

from __future__ import annotations

import pytest

from hatch_lambda.runtime.environment import (
    CallerCredentialsError,
    EnvFileError,
    caller_credentials,
    read_env_file,
)


def test_a_dotenv_file_gives_its_variables(tmp_path):
    path = tmp_path / ".env"
    path.write_text(
        "# settings for the orders table\n"
        "\n"
        "TABLE_NAME=orders\n"
        "export STAGE = prod\n"
        "GREETING='hello # not a comment'\n"
        'MULTILINE="first\\nsecond \\"quoted\\""\n'
        "URL=https://example.test/a#b  # a comment\n"
        "EMPTY=\n"
        "TABLE_NAME=orders-v2\n",
        encoding="utf-8",
    )

    assert read_env_file(path) == {
        "TABLE_NAME": "orders-v2",
        "STAGE": "prod",
        "GREETING": "hello # not a comment",
        "MULTILINE": 'first\nsecond "quoted"',
        "URL": "https://example.test/a#b",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("just words", "`just words` is not NAME=value"),
        ("1ABC=x", "`1ABC=x` is not NAME=value"),
        ("NAME='open", "the value's ' is never closed"),
        ('NAME="done" trailing', "`trailing` follows the quoted value"),
    ],
)
def test_a_line_that_is_not_an_assignment_is_named(tmp_path, line, reason):
    path = tmp_path / "bad.env"
    path.write_text(f"GOOD=1\n{line}\n", encoding="utf-8")

    with pytest.raises(EnvFileError) as raised:
        read_env_file(path)

    assert str(raised.value).startswith(f"Cannot read the environment file {path}:2: {reason}.")


def test_a_missing_env_file_is_named(tmp_path):
    with pytest.raises(EnvFileError) as raised:
        read_env_file(tmp_path / "absent.env")

    assert "absent.env: No such file or directory" in str(raised.value)


def test_the_callers_credential_variables_are_passed_as_they_are():
    environment = {"AWS_ACCESS_KEY_ID": "AKIAME", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}

    assert caller_credentials(environment) == environment


def test_no_credentials_at_all_say_where_they_are_looked_for(monkeypatch, tmp_path):
    # boto3's chain finds nothing: no variables, no files, no metadata service.
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(CallerCredentialsError) as raised:
        caller_credentials({})

    assert "`--aws-credentials` passes your own AWS credentials" in str(raised.value)


def test_only_sources_newer_than_the_build_count_as_edited(tmp_path):
    import os  # noqa: PLC0415

    from hatch_lambda.runtime.freshness import edited_since  # noqa: PLC0415

    project = tmp_path / "project"
    files = ["pyproject.toml", "app/__init__.py", "app/handler.py", "app/templates/a.txt", "app/data.json"]
    files += ["event.json", "dist/app.zip", ".venv/lib/x.py", "app/__pycache__/handler.cpython-312.pyc"]
    for name in files:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    built = project / "dist" / "app.zip"
    os.utime(built, (1_000_000, 1_000_000))
    for name in files:
        if name != "dist/app.zip":
            os.utime(project / name, (2_000_000, 2_000_000))
    os.utime(project / "app" / "handler.py", (3_000_000, 3_000_000))

    edited = edited_since(project, built, skip=[project / "dist"])

    assert [path.relative_to(project).as_posix() for path in edited] == [
        "app/handler.py",
        *sorted(["app/__init__.py", "app/data.json", "app/templates/a.txt", "pyproject.toml"], reverse=True),
    ]
