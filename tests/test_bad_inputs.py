"""What hatch-lambda refuses, one test a case: read the test names as the list.

Each build case runs the real `hatchling build -t lambda...` and checks what a user sees: a non-zero
exit, a message naming the setting, file, package or path, no traceback, and no new zip in `dist/`.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from hatch_lambda.errors import PublishError, UnsafeZipPathError
from hatch_lambda.files import record
from hatch_lambda.files.installed_tree import files_to_pack
from hatch_lambda.files.record import ZIP_EPOCH, FileToPack, unsafe_zip_path_reason
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.publish.executor import Publisher, publish_project
from hatch_lambda.publish.plan import FunctionState, plan_publish
from hatch_lambda.publish.release import read_release
from hatch_lambda.publish.settings import settings_from
from tests.helpers import compile_lock, output_of, run_hatchling, write_project
from tests.publish_support import REGION, create_function, write_release
from tests.wheelfactory import WheelSpec, write_wheel

FIELD = "`tool.hatch.build.targets.lambda"
NO_SUCH_HASH = "sha256:" + "0" * 64
MISSING_WHEEL = "file:///nowhere/hlfix_pure-1.0-py3-none-any.whl"


def project(root: Path, lambda_table: str = "", *, dependencies=("hlfix-pure",), extra: str = "") -> Path:
    return write_project(
        root,
        {
            "pyproject.toml": f"""
                [project]
                name = "bad-app"
                version = "1.0"
                requires-python = ">=3.9"
                dependencies = {json.dumps(list(dependencies))}
                {extra}

                [tool.hatch.build.targets.wheel]
                packages = ["bad_app"]

                [tool.hatch.build.targets.lambda]
                {lambda_table}
            """,
            "bad_app/__init__.py": "",
        },
    )


def zips(root: Path) -> set[str]:
    return {path.name for path in (root / "dist").glob("*.zip")} if (root / "dist").is_dir() else set()


def refused(root: Path, environment: dict[str, str], *targets: str) -> str:
    """Build, expect a named refusal, and return what the user saw."""
    before = zips(root)
    completed = run_hatchling(root, *targets, environment=environment)
    output = output_of(completed)
    assert completed.returncode != 0, output
    assert "Traceback" not in completed.stderr, completed.stderr
    assert zips(root) == before, output
    return " ".join(output.split())  # messages wrap; compare their words


def write(root: Path, relative: str, text: str | bytes) -> Path:
    path = root / relative
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# Paths and names ----------------------------------------------------------------------------------


def test_a_wheel_entry_outside_the_zip_root_is_refused_with_its_path(tmp_path, offline_environment):
    root = project(
        tmp_path / "app",
        dependencies=(),
        extra='[tool.hatch.build.targets.wheel.force-include]\n"notes.txt" = "../../escape.txt"',
    )
    write(root, "notes.txt", "escape\n")

    output = refused(root, offline_environment, "lambda:source")

    assert "'../../escape.txt'" in output
    assert "`..` part" in output
    assert "force-include" in output


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("C:/escape.txt", "it starts with a drive"),
        ("bad_app\\\\escape.txt", "backslash"),
    ],
)
def test_absolute_drive_and_backslash_entries_are_refused(tmp_path, offline_environment, entry, reason):
    root = project(
        tmp_path / "app",
        dependencies=(),
        extra=f'[tool.hatch.build.targets.wheel.force-include]\n"notes.txt" = "{entry}"',
    )
    write(root, "notes.txt", "escape\n")

    output = refused(root, offline_environment, "lambda:source")

    assert reason in output


@pytest.mark.parametrize("setting", ["exclude-packages", "allow-sdist"])
@pytest.mark.parametrize("name", ["x\n-r /etc/hostname", "-e .", "--index-url=http://elsewhere/"])
def test_a_package_setting_that_is_not_a_package_name_is_refused(
    tmp_path, offline_environment, setting, name
):
    root = project(tmp_path / "app", f"{setting} = {json.dumps([name])}")

    output = refused(root, offline_environment, "lambda:layer")

    assert f"{FIELD}.{setting}` holds" in output
    assert "not a package name" in output
    assert "hostname" not in output.split("holds", 1)[1].split("which", 1)[1]  # nothing was read


@pytest.mark.parametrize("lock", ["/etc/hostname", "../outside.txt"])
def test_a_lock_outside_the_project_is_refused(tmp_path, offline_environment, lock):
    (tmp_path / "outside.txt").write_text("hlfix-pure==1.0\n")
    root = project(tmp_path / "app", f"lock = {json.dumps(lock)}")

    output = refused(root, offline_environment, "lambda:layer")

    assert f"{FIELD}.lock` names `{lock}`, which is outside the project" in output


# Lock formats -------------------------------------------------------------------------------------


def test_a_poetry_lock_is_refused_by_name_with_the_export_command(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "poetry.lock"')
    write(root, "poetry.lock", '[[package]]\nname = "hlfix-pure"\nversion = "1.0"\n')

    output = refused(root, offline_environment, "lambda:layer")

    assert "`poetry.lock` is not a lock hatch-lambda can read" in output
    assert "poetry export --format requirements.txt" in output


def test_a_toml_lock_that_is_not_named_pylock_is_refused(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "locks.toml"')
    write(root, "locks.toml", '[[packages]]\nname = "hlfix-pure"\n')

    output = refused(root, offline_environment, "lambda:layer")

    assert "`locks.toml` is not a lock hatch-lambda can read" in output


def test_a_requirements_lock_with_toml_tables_is_refused(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "deps.lock"')
    write(root, "deps.lock", '[[package]]\nname = "hlfix-pure"\n')

    output = refused(root, offline_environment, "lambda:layer")

    assert "Lock file deps.lock is not a requirements file" in output


@pytest.mark.parametrize("lock", ["pylock.toml", "uv.lock"])
def test_pip_with_a_pylock_or_uv_lock_is_a_configuration_error(tmp_path, offline_environment, lock):
    root = project(tmp_path / "app", f'installer = "pip"\nlock = "{lock}"')
    write(root, lock, 'lock-version = "1.0"\n')

    output = refused(root, offline_environment, "lambda:layer")

    assert f"{FIELD}.lock` names a" in output
    assert f'{FIELD}.installer` is "pip"' in output


def test_a_pylock_with_no_packages_for_a_project_with_dependencies_is_refused(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "pylock.toml"')
    write(root, "pylock.toml", 'lock-version = "1.0"\ncreated-by = "hand"\n')

    output = refused(root, offline_environment, "lambda:layer")

    assert "Lock file pylock.toml installs no package on the target" in output
    assert "`hlfix-pure`" in output


def test_a_uv_lock_out_of_date_with_pyproject_is_refused_with_uv_lock(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "uv.lock"')
    locked = subprocess.run(
        [find_uv(), "lock", "--python", sys.executable, "--quiet"],
        cwd=root,
        env=offline_environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert locked.returncode == 0, locked.stderr
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["hlfix-pure"]', '["hlfix-pure", "hlfix-extra"]'))

    output = refused(root, offline_environment, "lambda:layer")

    assert "Lock file uv.lock is out of date with `pyproject.toml`: run `uv lock`" in output


# Malformed input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pylock", "message"),
    [
        ('[[packages]]\nversion = "1.0"\n', "package 1 (`[[packages]]` number 1) has no `name`"),
        ('packages = "hlfix-pure"\n', "`packages` must be an array of tables"),
        ('[[packages]]\nname = "x y"\n', "is named 'x y', which is not a PEP 508 package name"),
        (
            '[[packages]]\nname = "hlfix-pure"\nmarker = "python_version >< \'3\'"\n',
            "has an invalid `marker`",
        ),
        (
            'requires-python = "3.12 or later"\n[[packages]]\nname = "hlfix-pure"\n',
            "invalid `requires-python`",
        ),
    ],
)
def test_a_malformed_pylock_is_a_named_error(tmp_path, offline_environment, pylock, message):
    root = project(tmp_path / "app", 'lock = "pylock.toml"')
    write(root, "pylock.toml", 'lock-version = "1.0"\n' + pylock)

    output = refused(root, offline_environment, "lambda:layer")

    assert "Lock file pylock.toml" in output
    assert message in output


def test_a_requirements_lock_that_is_not_utf8_is_a_named_error(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "requirements.txt"')
    write(root, "requirements.txt", "hlfix-pure==1.0 # caf\xe9\n".encode("latin-1"))

    output = refused(root, offline_environment, "lambda:layer")

    assert "Lock file requirements.txt is not UTF-8 text" in output


def test_an_included_requirements_file_that_does_not_exist_is_a_named_error(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'lock = "requirements.txt"')
    write(root, "requirements.txt", "-r base.txt\nhlfix-pure==1.0\n")

    output = refused(root, offline_environment, "lambda:layer")

    assert "Lock file requirements.txt includes `base.txt` (`-r base.txt`), which does not exist" in output


def test_a_dependency_group_entry_that_is_not_a_requirement_stops_the_build_before_any_zip(
    tmp_path, offline_environment
):
    root = project(
        tmp_path / "app",
        'dependency-groups = ["ops"]',
        extra='[dependency-groups]\nops = ["hlfix-pure", "not a requirement!"]',
    )

    output = refused(root, offline_environment, "lambda")

    assert f"{FIELD}.dependency-groups` names `ops`" in output
    assert "not PEP 735 requirements" in output


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "`SOURCE_DATE_EPOCH` must be whole seconds since 1970 (got 'soon')"),
        ("4354819199", "after 2107-12-31, the last date a zip entry can hold"),
    ],
)
def test_a_bad_source_date_epoch_is_refused_before_anything_is_resolved(
    tmp_path, offline_environment, value, message
):
    root = project(tmp_path / "app")

    output = refused(root, {**offline_environment, "SOURCE_DATE_EPOCH": value}, "lambda:layer")

    assert message in output
    assert "Resolved" not in output


def test_an_explicit_runtime_outside_requires_python_names_both(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'runtime = "python3.11"')
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('">=3.9"', '">=3.12"'))

    output = refused(root, offline_environment, "lambda:source")

    assert f"{FIELD}.runtime` is python3.11" in output
    assert "`project.requires-python` ('>=3.12') excludes" in output


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('architecture = ["x86_64"]', "architecture` must be one of: x86_64, arm64 (got ['x86_64'])"),
        ("layout = 1", "layout` must be one of: python, site-packages (got 1)"),
        ('installer = ["uv"]', "installer` must be one of: uv, pip (got ['uv'])"),
        ('runtime = ["python3.12"]', "runtime` must be one of: python3.9"),
        ('exclude-packages = "boto3"', "exclude-packages` must be an array of strings"),
        ("lock = 3", "lock` must be a path to a lock file"),
        ('slim = "yes"', "slim` must be a boolean"),
        ('other-layers-size = "1 MB"', "other-layers-size` must be a whole number of bytes"),
        ("handler = 1", "handler` must be a string"),
        # hatchling's standard options, which hatchling itself reads: a message, not its traceback.
        ("hooks = 1", "hooks` must be a table"),
        ('versions = "source"', "versions` must be an array of strings"),
        ("reproducible = 1", "reproducible` must be a boolean"),
        ('require-runtime-dependencies = "no"', "require-runtime-dependencies` must be a boolean"),
        ("directory = 3", "directory` must be a string"),
        ('dependencies = "hatch-lambda"', "dependencies` must be an array"),
    ],
)
def test_a_setting_of_the_wrong_type_names_its_field(tmp_path, offline_environment, table, message):
    root = project(tmp_path / "app", table)

    output = refused(root, offline_environment, "lambda")

    assert f"{FIELD}.{message}" in output
    assert "unhashable" not in output


# Advice chosen by cause ---------------------------------------------------------------------------


def test_a_hash_mismatch_gets_advice_about_the_index_not_about_wheels(tmp_path, offline_environment):
    root = project(tmp_path / "app", 'runtime = "python3.12"\nlock = "requirements.txt"')
    write(root, "requirements.txt", f"hlfix-pure==1.0 --hash={NO_SUCH_HASH}\n")

    output = refused(root, offline_environment, "lambda:layer")

    assert "does not match the hash the lock gives for it" in output
    assert "Hash mismatch for `hlfix-pure==1.0`" in output  # uv's own words, kept
    assert "manylinux" not in output


def test_a_wheel_with_two_dist_info_directories_is_named_as_invalid(tmp_path, offline_environment):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    other = "other-1.0.dist-info/METADATA"
    write_wheel(WheelSpec("hlx-twoinfo", "1.0", files={"hlx_twoinfo.py": "", other: "Name: other\n"}), wheels)
    root = project(tmp_path / "app", 'runtime = "python3.12"', dependencies=("hlx-twoinfo",))

    output = refused(root, {**offline_environment, "UV_FIND_LINKS": str(wheels)}, "lambda:layer")

    assert "The wheel of `hlx-twoinfo` is not a valid wheel" in output
    assert "Multiple .dist-info directories found" in output
    assert "manylinux" not in output


def test_a_lock_compiled_for_this_machine_says_so_and_gives_the_command_for_the_target(
    tmp_path, offline_environment
):
    root = project(
        tmp_path / "app",
        'runtime = "python3.12"\nlock = "requirements.txt"',
        dependencies=("hlfix-wrongabi",),
    )
    # What `uv pip compile` writes on a CPython 3.11 machine without --python-version/--python-platform.
    write(
        root,
        "requirements.txt",
        """\
        # This file was autogenerated by uv via the following command:
        #    uv pip compile requirements.in -o requirements.txt --python /usr/bin/python3.11
        hlfix-wrongabi==1.0
        """,
    )

    output = refused(root, offline_environment, "lambda:layer")

    assert "it was compiled for this machine's Python" in output
    assert (
        "uv pip compile requirements.in -o requirements.txt --python-version 3.12 "
        "--python-platform x86_64-manylinux_2_34"
    ) in output


def test_uv_experimental_warnings_are_not_shown_with_a_failure(tmp_path, offline_environment):
    root = project(
        tmp_path / "app", 'runtime = "python3.12"\nlock = "pylock.toml"', dependencies=("hlfix-pure",)
    )
    write(
        root,
        "pylock.toml",
        f"""\
        lock-version = "1.0"
        created-by = "hand"
        [[packages]]
        name = "hlfix-pure"
        version = "1.0"
        wheels = [{{ url = "{MISSING_WHEEL}", hashes = {{ sha256 = "{"0" * 64}" }} }}]
        """,
    )

    output = refused(root, offline_environment, "lambda:layer")

    assert "uv could not fetch `hlfix-pure` for the layer" in output
    # uv's notice: "The `--pylock` option is experimental ... Pass `--preview-features pylock`".
    assert "is experimental" not in output
    assert "--preview-features" not in output


# Locks and exclusions -----------------------------------------------------------------------------


def test_exclude_packages_is_honoured_with_a_pylock(tmp_path, offline_environment):
    root = project(
        tmp_path / "app",
        'runtime = "python3.12"\nlock = "pylock.toml"\nexclude-packages = ["hlfix-sdk"]',
        dependencies=("hlfix-sdk", "hlfix-client"),
    )
    compile_lock(root, "hlfix-sdk\nhlfix-client\n", "pylock.toml", offline_environment)
    assert "hlfix-transfer" in (root / "pylock.toml").read_text()

    completed = run_hatchling(root, "lambda:layer", environment=offline_environment)

    assert completed.returncode == 0, output_of(completed)
    manifest = json.loads((root / "dist" / "bad_app-1.0-lambda.json").read_text())
    packages = {package["name"] for package in manifest["artifacts"]["layer"]["packages"]}
    # hlfix-http stays: hlfix-client needs it too.
    assert packages == {"hlfix-client", "hlfix-http"}
    assert "what only they needed: hlfix-query, hlfix-sdkcore, hlfix-transfer" in output_of(completed)


# Publishing ---------------------------------------------------------------------------------------


@pytest.mark.moto
def test_publishing_to_a_missing_bucket_names_the_bucket_region_and_permission(aws, tmp_path):
    create_function("my-app")
    write_release(tmp_path / "dist")
    settings = {"layer-name": "my-app-deps", "function-name": "my-app", "s3-bucket": "no-such-bucket"}

    with pytest.raises(PublishError) as raised:
        publish_project(tmp_path, [], [settings], report=lambda line: None)

    message = str(raised.value)
    assert "S3 bucket `no-such-bucket`" in message
    assert REGION in message
    assert "s3:PutObject" in message


def test_a_bucket_of_another_account_names_the_bucket_region_and_permission(tmp_path):
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    release = read_release(write_release(tmp_path / "dist").manifest)
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:my-app"
    state = FunctionState("my-app", arn, "python3.12", ("x86_64",), "old=", ())
    settings = settings_from([{"function-name": "my-app", "layer-name": "deps", "s3-bucket": "theirs"}])
    plan = plan_publish(release, settings, None, [state], 0)
    assert plan.layer is not None and plan.layer.upload is not None
    with Stubber(s3) as stubber:
        stubber.add_client_error("head_object", service_error_code="403", http_status_code=403)

        with pytest.raises(PublishError) as raised:
            Publisher(None, lambda: s3, report=lambda line: None).code_location(plan.layer.upload)

    message = str(raised.value)
    assert "S3 bucket `theirs`" in message
    assert "in eu-west-1" in message
    assert "`s3:PutObject` and `s3:GetObject`" in message


def test_a_function_failed_by_an_earlier_update_is_updated_anyway(tmp_path):
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-app"
    release = read_release(write_release(tmp_path / "dist").manifest)
    state = FunctionState("my-app", arn, "python3.12", ("x86_64",), "old=", ())
    settings = settings_from([{"function-name": "my-app", "layer-name": "my-app-deps"}])
    plan = plan_publish(release, settings, None, [state], 0)
    [step] = plan.functions
    assert step.code_upload is not None
    code_sha256 = step.code_upload.artifact.code_sha256

    def configuration(status):
        return {"FunctionName": "my-app", "FunctionArn": arn, "State": "Active", "LastUpdateStatus": status}

    lines: list[str] = []
    with Stubber(client) as stubber:
        failed = {**configuration("Failed"), "LastUpdateStatusReason": "an old bad layer"}
        stubber.add_response("get_function_configuration", failed, {"FunctionName": "my-app"})
        stubber.add_response(
            "update_function_code",
            {**configuration("InProgress"), "CodeSha256": code_sha256},
            {"FunctionName": "my-app", "ZipFile": step.code_upload.artifact.path.read_bytes()},
        )
        stubber.add_response(
            "get_function_configuration", configuration("Successful"), {"FunctionName": "my-app"}
        )

        result = Publisher(client, lambda: None, report=lines.append).update_function(step, None)

        stubber.assert_no_pending_responses()
    assert result.code == "updated"
    assert any("An earlier update of my-app failed on Lambda (an old bad layer)" in line for line in lines)


def test_this_runs_own_failed_update_is_fatal(tmp_path):
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    failed = {"FunctionName": "my-app", "LastUpdateStatus": "Failed", "LastUpdateStatusReason": "bad zip"}
    with Stubber(client) as stubber:
        stubber.add_response("get_function_configuration", failed, {"FunctionName": "my-app"})

        with pytest.raises(PublishError, match="This run's update of my-app failed on Lambda: bad zip"):
            Publisher(client, lambda: None, report=lambda line: None).wait_until_updated("my-app")


def test_credentials_in_the_endpoint_url_are_never_shown(tmp_path, monkeypatch):
    for name, value in {
        "AWS_ENDPOINT_URL": "http://user:secret@127.0.0.1:9",  # the discard port: nothing answers
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    write_release(tmp_path / "dist")

    with pytest.raises(PublishError) as raised:
        publish_project(tmp_path, [], [{"function-name": "my-app"}], report=lambda line: None)

    message = str(raised.value)
    assert "127.0.0.1:9" in message
    assert "user" not in message
    assert "secret" not in message


# The zip-path rule itself (both sources use it) ---------------------------------------------------


@pytest.mark.parametrize(
    ("archive_path", "reason"),
    [
        ("/etc/passwd", "it is absolute"),
        ("C:/windows/x.py", "it starts with a drive"),
        ("c:x.py", "it starts with a drive"),
        ("pkg\\x.py", "it holds a backslash, which Windows tools read as a separator"),
        ("pkg/../../x.py", "it has a `..` part"),
        ("..", "it has a `..` part"),
        ("pkg//x.py", "it has an empty or `.` part"),
        ("", "it is empty"),
    ],
)
def test_the_zip_path_rule_refuses_what_installers_refuse(archive_path, reason):
    assert unsafe_zip_path_reason(archive_path) == reason
    with pytest.raises(UnsafeZipPathError):
        FileToPack(archive_path, bytes, executable=False, modified=ZIP_EPOCH)


def test_a_safe_zip_path_passes():
    assert unsafe_zip_path_reason("python/pkg/..data/x.py") is None


def test_the_zip_path_rule_s_quick_pass_agrees_with_every_rule():
    """Every path built from the pieces that break a rule, up to three parts: the quick test for
    the common case passes exactly those no rule refuses."""
    pieces = ["", ".", "..", "a", "..a", "a.", "C:", "c:d", "\\", "a\\b", "\0", "x\0", " ", "é"]
    paths = {"/".join(parts) for size in (1, 2, 3) for parts in itertools.product(pieces, repeat=size)}
    rules = record._UNSAFE_ZIP_PATH_RULES
    for path in sorted(paths):
        expected = next((reason for unsafe, reason in rules if unsafe(path)), None)
        assert unsafe_zip_path_reason(path) == expected, path


def test_an_installed_file_with_a_backslash_names_the_distribution_that_owns_it(tmp_path):
    target = tmp_path / "target"
    (target / "pkg").mkdir(parents=True)
    (target / "pkg" / "a\\b.py").write_text("")
    dist_info = target / "hlx_bs-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "RECORD").write_text("pkg/a\\b.py,,\n")

    with pytest.raises(UnsafeZipPathError) as raised:
        files_to_pack(target, "python/")

    assert "'python/pkg/a\\\\b.py' from `hlx_bs`" in str(raised.value)
