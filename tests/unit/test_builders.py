"""The fixture builders: wire-form manifests, fresh on every `.obj()`."""

from taskmill.api import BatchJob, Task
from tests.builders import make_batchjob, make_task


def test_a_built_batchjob_parses_as_the_api_type() -> None:
    obj = make_batchjob("thumbs", "image.resize").namespace("ns").range(end=4).obj()

    job = BatchJob.model_validate(obj)

    assert (job.metadata.name, job.metadata.namespace) == ("thumbs", "ns")
    assert job.spec.capability == "image.resize"
    assert job.spec.range is not None
    assert job.spec.range.end == 4


def test_none_removes_a_spec_field() -> None:
    obj = make_batchjob("j").items(1, 2).spec(priority=3).spec(priority=None).obj()

    assert obj["spec"] == {"capability": "demo.echo", "items": [1, 2]}


def test_each_obj_is_a_fresh_copy() -> None:
    builder = make_task("t-0", "cap", "t").lease("p", epoch=2)
    first = builder.obj()
    first["status"]["lease"]["holder"] = "changed"
    first["metadata"]["labels"].clear()

    second = builder.obj()
    assert second["status"]["lease"]["holder"] == "p"
    assert second["metadata"]["labels"] == {
        "taskmill.io/capability": "cap",
        "taskmill.io/batchjob": "t",
    }


def test_a_built_task_parses_as_the_api_type() -> None:
    task = Task.model_validate(make_task("t-3", "cap", "t").index(3).obj())

    assert (task.spec.batch_job, task.spec.index, task.spec.capability) == ("t", 3, "cap")
