"""The Dockerfile's promises, checked by parsing it (no Docker engine needed).

Multi-stage, wheel-installed, non-root, no compilers or sources in the final stage,
and an entrypoint that runs installed modules with `python -m`, never a file path.
tests/e2e builds the image for real where a Docker engine exists.
"""

import importlib.util
import json
from dataclasses import dataclass

from tests.harness.versions import REPO_ROOT
from tests.unit.chart.helm import CHART

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Dockerfile instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


INSTRUCTIONS = parse(DOCKERFILE.read_text())
STAGES = stages(INSTRUCTIONS)
FINAL = STAGES[-1]


def final(keyword: str) -> list[str]:
    return [i.args for i in FINAL if i.keyword == keyword]


def test_parser_joins_continuations_and_skips_comments() -> None:
    parsed = parse("# c\nFROM a AS b\nRUN x \\\n  && y\n\nUSER 1\n")

    assert parsed == [
        Instruction("FROM", "a AS b"),
        Instruction("RUN", "x && y"),
        Instruction("USER", "1"),
    ]


def test_image_is_multi_stage_on_python_3_11_slim() -> None:
    assert len(STAGES) >= 2
    (base_arg,) = (i.args for i in INSTRUCTIONS if i.keyword == "ARG" and "PYTHON_IMAGE" in i.args)
    assert base_arg == "PYTHON_IMAGE=python:3.11-slim"
    assert all(stage[0].args.startswith("${PYTHON_IMAGE}") for stage in STAGES)


def test_build_stage_installs_the_wheel_into_a_venv() -> None:
    build_runs = " ".join(i.args for i in STAGES[0] if i.keyword == "RUN")

    assert "pip wheel --no-deps --wheel-dir /wheels ." in build_runs
    assert "python -m venv /opt/taskmill" in build_runs
    assert "pip install --no-deps /wheels/taskmill-*.whl" in build_runs


def test_dependencies_install_in_a_layer_before_the_sources() -> None:
    # A source edit must not reinstall every dependency: CI builds from a changed tree.
    steps = [(i.keyword, i.args) for i in STAGES[0]]
    deps = next(n for n, (k, a) in enumerate(steps) if k == "RUN" and "pip install -r" in a)
    sources = next(n for n, (k, a) in enumerate(steps) if k == "COPY" and "taskmill/" in a)

    assert deps < sources


def test_final_stage_copies_only_the_venv_and_installs_no_compilers() -> None:
    assert final("COPY") == ["--from=build /opt/taskmill /opt/taskmill"]
    runs = " ".join(final("RUN"))
    for tool in ("gcc", "build-essential", "pip install"):
        assert tool not in runs


def test_no_copy_invents_an_operator_package() -> None:
    # A regular package named `operator` shadows the standard library (DESIGN §1).
    for instruction in INSTRUCTIONS:
        assert "__init__" not in instruction.args, instruction


def test_runs_as_a_numeric_non_root_user_matching_the_chart() -> None:
    (user,) = final("USER")
    uid = int(user.split(":")[0])

    assert uid == 10001
    chart_values = (CHART / "values.yaml").read_text()
    assert f"runAsUser: {uid}" in chart_values


def test_entrypoint_runs_installed_modules_and_they_exist() -> None:
    (entrypoint,) = final("ENTRYPOINT")
    (cmd,) = final("CMD")

    assert json.loads(entrypoint)[-2:] == ["python", "-m"]
    module = json.loads(cmd)[0]
    assert module == "taskmill.operator"
    # The chart starts both components the same way; both must be runnable modules.
    for name in ("taskmill.operator", "taskmill.provider"):
        assert importlib.util.find_spec(f"{name}.__main__") is not None, name


def test_labels_and_no_healthcheck() -> None:
    labels = " ".join(final("LABEL"))

    for key in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert not final("HEALTHCHECK")


def test_build_context_leaves_out_local_state() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())

    assert {".git", ".venv", ".taskmill", "tests"} <= ignored
    copies = [i.args.split()[:-1] for i in STAGES[0] if i.keyword == "COPY"]
    copied = {source.rstrip("/") for sources in copies for source in sources}
    assert not copied & ignored, "the build stage copies something .dockerignore leaves out"
