"""The interpreter that runs a handler locally: the runtime's CPython on this machine, or under emulation.

A target of this machine's architecture runs with a CPython of the runtime's version found like
any other (`find_runtime_python`). A target of the other architecture runs only when
`HATCH_LAMBDA_PYTHON_3_X_<ARCH>` (`HATCH_LAMBDA_PYTHON_3_11_ARM64`) names a command line that
starts such a CPython, typically through qemu's user-mode emulator:
`qemu-aarch64-static -L SYSROOT SYSROOT/usr/bin/python3.11`. Either way the interpreter is asked
once what it is (implementation, version, machine, C library), and `why_not` says what is wrong.
"""

from __future__ import annotations

import os
import platform
import shlex
from dataclasses import dataclass

from hatch_lambda.errors import UvNotFoundError
from hatch_lambda.layer.uv import find_uv
from hatch_lambda.platform.interpreters import environment_variable_for, find_runtime_python, probe
from hatch_lambda.platform.runtimes import Runtime, machine_of

_HOST_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}
# What the interpreter says of itself; standard library only, for any CPython 3.9+.
# An emulated interpreter starts slowly (qemu translates every instruction): allow for it.
_PROBE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class TargetPython:
    """A command line that starts the runtime's CPython for the target's architecture."""

    command: tuple[str, ...]
    emulated: bool

    @property
    def executable(self) -> str:
        """The interpreter itself (the last word of an emulator's command line)."""
        return self.command[-1]

    def describe(self) -> str:
        return f"under emulation ({shlex.join(self.command)})" if self.emulated else self.executable


def emulator_variable_for(runtime: Runtime, architecture: str) -> str:
    return f"{environment_variable_for(runtime)}_{architecture.upper()}"


def host_machine() -> str:
    machine = platform.machine()
    return _HOST_MACHINE_ALIASES.get(machine, machine)


def find_target_python(runtime: Runtime, architecture: str) -> TargetPython | str:
    """The interpreter to run `runtime` on `architecture` with, or the reason there is none here."""
    system = platform.system()
    if system != "Linux":
        return f"Lambda runs Linux and this machine runs {system}"
    wanted = machine_of(architecture)
    if host_machine() == wanted:
        python = _find_host_python(runtime)
        if python is None:
            return _no_python(runtime)
        target = TargetPython((python,), emulated=False)
    else:
        variable, version = emulator_variable_for(runtime, architecture), runtime.python_version_text
        command = os.environ.get(variable, "").strip()
        if not command:
            return (
                f"this machine is {host_machine()} and the target is {architecture} ({wanted}); set "
                f"`{variable}` to a command that runs an {wanted} CPython {version} (e.g. "
                f"`qemu-aarch64-static -L SYSROOT SYSROOT/usr/bin/python{version}`) to run it under emulation"
            )
        target = TargetPython(tuple(shlex.split(command)), emulated=True)
    problem = why_not(target, runtime, architecture)
    return problem if problem is not None else target


def why_not(target: TargetPython, runtime: Runtime, architecture: str) -> str | None:
    """None when `target` is a CPython of the runtime's version for the architecture, on glibc new enough."""
    where = f"`{emulator_variable_for(runtime, architecture)}` ({shlex.join(target.command)})"
    shown = where if target.emulated else target.executable
    facts = probe(target.command, timeout=_PROBE_TIMEOUT_SECONDS)
    if isinstance(facts, str):
        return f"{shown} does not run a CPython: {facts}"
    implementation, version, machine, libc = facts.implementation, facts.version, facts.machine, facts.libc
    wanted = (runtime.python_version_text, machine_of(architecture))
    if implementation != "CPython" or (version, _HOST_MACHINE_ALIASES.get(machine, machine)) != wanted:
        return f"{shown} runs {implementation} {version} on {machine}, not CPython {wanted[0]} on {wanted[1]}"
    glibc = _glibc_of(libc)
    if glibc is None:
        return f"{shown} does not run on glibc, so the layer's manylinux binaries cannot load there"
    if glibc < runtime.glibc:
        return (
            f"{shown} has glibc {glibc[0]}.{glibc[1]}, older than the {runtime.glibc_text} of "
            f"{runtime.name} ({runtime.operating_system}), so the layer's binaries may not load there"
        )
    return None


def _glibc_of(confstr: str) -> tuple[int, int] | None:
    try:
        name, version = confstr.split()  # "glibc 2.36"
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except ValueError:
        return None


def _no_python(runtime: Runtime) -> str:
    version = runtime.python_version_text
    return (
        f"no CPython {version} was found on this machine (install one with `uv python install {version}` "
        f"or `pyenv install {version}`, or point `{environment_variable_for(runtime)}` at its executable)"
    )


def _find_host_python(runtime: Runtime) -> str | None:
    try:
        uv: str | None = find_uv()
    except UvNotFoundError:
        uv = None  # pyenv's versions and HATCH_LAMBDA_PYTHON_3_X still work without it
    return find_runtime_python(runtime, uv)
