"""`hatch publish -p lambda`: Hatch's publisher interface over `publisher.publish_project`.

Hatch gives the plugin its user config `[publish.lambda]`, the project's
`[tool.hatch.publish.lambda]` and the `-o key=value` options; later ones win. Positional artifacts
may name the build directory or a `*-lambda.json` manifest; by default the target's directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hatch.publish.plugin.interface import PublisherInterface

from hatch_lambda.errors import PublishError
from hatch_lambda.publish.executor import publish_project


class LambdaPublisher(PublisherInterface):
    PLUGIN_NAME = "lambda"

    def publish(self, artifacts: list[str], options: dict[str, Any]) -> None:
        app: Any = self.app
        try:
            outcome, settings = publish_project(
                Path(self.root),
                [Path(artifact) for artifact in artifacts],
                [self.plugin_config, self.project_config, options],
                report=app.display_info,
            )
        except PublishError as error:
            app.abort(str(error))
            return
        if settings.json_output:
            app.display(json.dumps(outcome.to_json(), indent=2))
        else:
            for line in outcome.summary_lines():
                app.display(line)
