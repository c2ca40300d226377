"""Files that travel with a job through an S3-compatible object store.

A job names its store (or uses the provider's default), the objects every task gets,
the object each item names, and the files collected after a task succeeds. The store
itself, its endpoint and its credentials live with the providers (a Secret the pool
mounts), never in a BatchJob or a Task: a Task carries only the store's name.

Admission checks what the API server can judge: object sources are keys in the store's
bucket or `s3://bucket/key` URIs, paths are relative and never climb out with `..`,
key templates use only the known placeholders. The provider confines every path to the
task's working directory again when it stages (symlinks included).
"""

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict, JsonValue

from taskmill.api.common import ApiModel

MAX_INPUTS = 64
MAX_OUTPUTS = 64
MAX_PATH = 1024
# S3 keys are at most 1024 bytes; a source may carry `s3://bucket/` in front.
MAX_SOURCE = 1100
MAX_MANIFEST = 256
# A Task's inputs: the job's, and one per item of its batch (batchSize is at most 10,000).
MAX_TASK_INPUTS = MAX_INPUTS + 10_000
SHA256_PATTERN = r"^[0-9a-f]{64}$"

# Placeholders of an output key template, filled in by the provider per file.
KEY_PLACEHOLDERS = ("namespace", "job", "task", "index", "attempt", "path", "name")
DEFAULT_OUTPUT_KEY = "{namespace}/{job}/{index}/{attempt}/{path}"
# Placeholders of an item input's path: the object's base name, the item's position
# within its Task's batch (0 when batchSize is 1).
ITEM_PATH_PLACEHOLDERS = ("name", "position")

_SOURCE_RULES: list[dict[str, str]] = [
    {
        "rule": "!self.contains('://') || self.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.')",
        "message": "must be a key in the store's bucket or an s3://bucket/key URI",
    },
    {"rule": "!self.startsWith('/')", "message": "a key must not start with '/'"},
]


def _relative_rules(what: str) -> list[dict[str, str]]:
    return [
        {"rule": "!self.startsWith('/')", "message": f"{what} must be relative, not absolute"},
        {
            "rule": "!self.matches('(^|/)[.][.](/|$)')",
            "message": f"{what} must stay inside the task's working directory (no '..')",
        },
    ]


def _placeholder_rule(names: tuple[str, ...], what: str) -> dict[str, str]:
    allowed = "|".join(names)
    return {
        "rule": f"self.matches('^([^{{}}]|[{{]({allowed})[}}])*$')",
        "message": f"{what} may use only the placeholders "
        + ", ".join("{" + n + "}" for n in names),
    }


def _string(rules: list[dict[str, str]]) -> JsonDict:
    checks: list[JsonValue] = [dict(rule) for rule in rules]
    return {"x-kubernetes-validations": checks}


class FileInput(ApiModel):
    """An object (or every object under a prefix) staged before the work starts."""

    source: str = Field(
        min_length=1,
        max_length=MAX_SOURCE,
        description="Object key in the store's bucket, or s3://bucket/key. Ending in '/', a "
        "prefix: every object under it is staged below path, keeping the rest of its key.",
        json_schema_extra=_string(_SOURCE_RULES),
    )
    path: str = Field(
        min_length=1,
        max_length=MAX_PATH,
        description="Where the object lands, relative to the task's working directory (a "
        "directory for a prefix).",
        json_schema_extra=_string(_relative_rules("path")),
    )
    sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        max_length=64,
        description="Expected sha256 of the object (hex); the attempt fails when the bytes "
        "differ. Objects uploaded by taskmill carry their sha256 and are checked without it.",
    )


class ItemInput(ApiModel):
    """The object each item names, staged for the item's task."""

    field: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="Field of an object item that holds the object's key or s3:// URI; unset "
        "when each item is the key itself (a string).",
    )
    path: str = Field(
        default="inputs/{name}",
        min_length=1,
        max_length=MAX_PATH,
        description="Where the object lands, relative to the working directory. "
        "Placeholders: {name} (the object's base name), {position} (the item's position in "
        "its Task's batch).",
        json_schema_extra=_string(
            [*_relative_rules("path"), _placeholder_rule(ITEM_PATH_PLACEHOLDERS, "path")]
        ),
    )


class FileOutput(ApiModel):
    """Files collected after the work succeeds."""

    path: str = Field(
        min_length=1,
        max_length=MAX_PATH,
        description="File path or glob (*, ?, [..], ** for any depth), relative to the "
        "working directory.",
        json_schema_extra=_string(_relative_rules("path")),
    )
    key: str = Field(
        default=DEFAULT_OUTPUT_KEY,
        min_length=1,
        max_length=MAX_PATH,
        description="Key template of each collected file: {namespace}, {job}, {task}, {index}, "
        "{attempt}, {path} (the file's path relative to the working directory), {name} (its "
        "base name). Must contain {index} or {task} so that tasks never share a key.",
        json_schema_extra=_string(
            [
                _placeholder_rule(KEY_PLACEHOLDERS, "key"),
                {
                    "rule": "self.contains('{index}') || self.contains('{task}')",
                    "message": "key must contain {index} or {task}, or tasks overwrite "
                    "each other's files",
                },
                {"rule": "!self.startsWith('/')", "message": "key must not start with '/'"},
            ]
        ),
    )
    optional: bool = Field(
        default=False,
        description="Whether the task may succeed without a file matching path; when false a "
        "missing output fails the attempt.",
    )


# A store's name, or "" for the providers' default store.
_STORE: JsonDict = {"maxLength": 63, "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"}


class FilesSpec(ApiModel):
    """What a job's tasks read from and write to the object store."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    # Distinct glob patterns can still match one file; the provider
                    # uploads each file once, under the first output that matches it.
                    "rule": "self.outputs.all(o, self.outputs.exists_one(p, p.path == o.path))",
                    "message": "spec.files.outputs: each path may be listed once",
                    "fieldPath": ".outputs",
                },
            ]
        }
    )

    store: str = Field(
        default="",
        description="Name of the object store, as the providers are configured with it; "
        '"" is their default store.',
        json_schema_extra=_STORE,
    )
    inputs: list[FileInput] = Field(
        default_factory=list,
        max_length=MAX_INPUTS,
        description="Objects every task gets before its work starts.",
    )
    item_input: ItemInput | None = Field(
        default=None,
        description="With spec.items: the object each item names, staged for its task.",
    )
    outputs: list[FileOutput] = Field(
        default_factory=list,
        max_length=MAX_OUTPUTS,
        description="Files collected after the work succeeds, each stored under its key "
        "template; recorded in the Task's result.files.",
    )


class TaskInput(ApiModel):
    """One input of one Task, as the operator resolved it."""

    source: str = Field(max_length=MAX_SOURCE, description="Object key or s3://bucket/key.")
    path: str = Field(max_length=MAX_PATH, description="Relative path in the working directory.")
    sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, max_length=64, description="Expected sha256."
    )
    shared: bool = Field(
        default=True,
        description="Whether other tasks get the object too (the job's inputs): the provider "
        "keeps it in its content cache. An item's own object (false) is fetched straight "
        "into the working directory.",
    )


class TaskFiles(ApiModel):
    """The files of one Task: the job's inputs and its item's, and the job's outputs."""

    store: str = Field(
        default="", description='Object store name ("" is the default).', json_schema_extra=_STORE
    )
    inputs: list[TaskInput] = Field(
        default_factory=list,
        description="Objects staged before the work starts.",
        max_length=MAX_TASK_INPUTS,
    )
    outputs: list[FileOutput] = Field(
        default_factory=list, max_length=MAX_OUTPUTS, description="Files collected after success."
    )


class FileRecord(ApiModel):
    """One file moved through the store, as verified."""

    path: str = Field(max_length=MAX_PATH, description="Path relative to the working directory.")
    key: str = Field(max_length=MAX_SOURCE, description="Object key, or s3://bucket/key.")
    size: int = Field(ge=0, description="Bytes.")
    sha256: str = Field(
        pattern=SHA256_PATTERN, max_length=64, description="sha256 of the bytes (hex)."
    )


class FileManifest(ApiModel):
    """Every file staged in and collected out by the attempt, with its size and sha256."""

    store: str = Field(default="", max_length=63, description="Object store name.")
    inputs: list[FileRecord] = Field(
        default_factory=list, max_length=MAX_MANIFEST, description="Files staged in."
    )
    outputs: list[FileRecord] = Field(
        default_factory=list, max_length=MAX_MANIFEST, description="Files collected out."
    )
