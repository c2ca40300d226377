"""CEL for status rules: one environment, compiled rules, evaluation to a boolean.

The library is cel-expr-python, Google's binding of cel-cpp: of the three Python CEL
libraries PyPI serves it was both the fastest and the closest to the CEL Kubernetes
users write (string and optional extensions, `has`, macros, timestamps, durations,
mixed int/double comparison); docs/status.md has the measurement. Kubernetes' own
library functions (`quantity`, `isSorted`, `url`, ...) are not available.

Rules see three variables: `object` (the workload as JSON), `now` (a timestamp) and
`facts` (what an adapter gathered, a JSON map). All are dynamic, so type errors show
up per object at evaluation; compilation still catches syntax, unknown functions and
rules that can never be boolean.
"""

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any, TypeAlias

from cel_expr_python import cel
from cel_expr_python.ext import ext_math, ext_optional, ext_strings

Program: TypeAlias = cel.Expression
Activation: TypeAlias = cel.Activation

_PREFIX = re.compile(r"^[A-Z_]+: (ERROR: <input>:)?")


class CelError(ValueError):
    """A rule that does not compile, or that failed on one object."""


@cache
def _env() -> cel.Env:
    return cel.NewEnv(
        variables={"object": cel.Type.DYN, "now": cel.Type.TIMESTAMP, "facts": cel.Type.DYN},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_math.ExtMath()],
    )


def compile_rule(expression: str) -> Program:
    """The compiled rule, or CelError with the compiler's message."""
    try:
        program = _env().compile(expression)
    except RuntimeError as e:
        raise CelError(_first_line(str(e))) from None
    kind = program.return_type()
    if kind not in (cel.Type.BOOL, cel.Type.DYN):
        raise CelError(f"the rule must be a boolean, not {kind}")
    return program


def activation(obj: Mapping[str, Any], facts: Mapping[str, Any], now: datetime) -> Activation:
    """The variables for one object, converted once and shared by all its rules."""
    return _env().Activation({"object": obj, "facts": facts, "now": now})


def holds(program: Program, variables: Activation) -> bool:
    """Whether the rule is true for these variables; CelError if it fails or is not boolean."""
    result = program.eval(variables)
    kind = result.type()
    if kind == cel.Type.BOOL:
        return bool(result.value())
    if kind == cel.Type.ERROR:
        raise CelError(_first_line(str(result.value())))
    raise CelError(f"the rule gave {kind}, not a boolean")


def compile_chain(expressions: list[str]) -> Program | None:
    """One program giving the index of the first true expression, -1 for none: one
    evaluation per object instead of one per rule. None when they do not combine."""
    chain = "-1"
    for index in reversed(range(len(expressions))):
        chain = f"({expressions[index]}) ? {index} : ({chain})"
    try:
        return _env().compile(chain)
    except RuntimeError:
        return None


def first_true(program: Program, variables: Activation) -> int | None:
    """The chain's answer; None when some rule in it failed on this object."""
    result = program.eval(variables)
    if result.type() != cel.Type.INT:
        return None
    return int(result.value())


def _first_line(message: str) -> str:
    """The compiler's first line without its status-code prefix: `1:4: Syntax error: ...`."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return _PREFIX.sub("", lines[0]) if lines else "unknown CEL error"
