"""Lambda's handler string, `package.module.function`, split the way the runtime splits it.

A leaf: the configuration validates `handler` with it, and the local runtime imports by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hatch_lambda.errors import BadHandlerError

HANDLER_SETTING = "`tool.hatch.build.targets.lambda.handler`"


@dataclass(frozen=True)
class HandlerName:
    """`my_app.lambda_function.lambda_handler`: the module's import path, then the function."""

    text: str
    module: str
    function: str


def parse_handler(text: str, setting: str = HANDLER_SETTING) -> HandlerName:
    """Split a handler string the way Lambda's runtime does, refusing what it would call a bad handler.

    Lambda accepts any non-blank string of at most 128 characters and splits it at its last dot; a
    `/` in the module part stands for a dot. `setting` names where the string came from.
    """
    if not text or any(character.isspace() for character in text):
        raise BadHandlerError(text, setting, "it must be one word, without spaces")
    if len(text) > 128:
        raise BadHandlerError(text, setting, "Lambda allows at most 128 characters")
    module, dot, function = text.rpartition(".")
    if not dot or not module or not function:
        raise BadHandlerError(text, setting, "it needs a module and a function, joined by a dot")
    module = module.replace("/", ".")
    if "" in module.split("."):
        raise BadHandlerError(text, setting, f"`{module}` is not a module path (an empty part between dots)")
    return HandlerName(text, module, function)


def parse_handlers(value: object, setting: str = HANDLER_SETTING) -> list[str]:
    """`handler` as configured: one handler string or an array of them (one per function).

    TypeError for a value of the wrong shape, `BadHandlerError` (a ValueError) for a bad string.
    """
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        message = (
            f"Field {setting} must be a string, `package.module.function`, or an array of them (one "
            "per function the source zip serves)"
        )
        raise TypeError(message)
    parsed = [parse_handler(item, setting).text for item in values]
    repeated = sorted({item for item in parsed if parsed.count(item) > 1})
    if repeated:
        raise ValueError(f"Field {setting} names {', '.join(repeated)} more than once")
    return parsed
