from __future__ import annotations

from hatch_lambda.layer.requirements import layer_requirements


def test_dependencies_and_chosen_extras_with_markers_kept_for_uv():
    requirements = layer_requirements(
        "my-app",
        ["requests>=2", 'uvloop; sys_platform != "win32"'],
        {"aws": ["boto3"], "dev": ["pytest"]},
        ["aws"],
    )

    assert requirements == ["requests>=2", 'uvloop; sys_platform != "win32"', "boto3"]


def test_self_references_expand_with_their_markers_and_never_name_the_project():
    requirements = layer_requirements(
        "My_App",
        ['my-app[fast]; python_version >= "3.11"'],
        {"fast": ["orjson", "my-app[fast]"], "all": ["my-app[fast]", "rich"]},
        ["all"],
    )

    assert requirements == [
        'orjson; python_version >= "3.11"',
        "orjson",
        "rich",
    ]
