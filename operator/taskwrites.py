"""Executing a plan: the operator's writes to Tasks, each one idempotent or a CAS.

A 409 on create means a Task of that name exists (a previous run got there first, or an
earlier job of the same name left it); a 409/422 on a status patch means the task moved
on since the index row was read. Both are normal: the watch event that follows brings
the row up to date and the next plan decides again.

Any other failure of one write is logged and counted, never raised: a create refused by
a ResourceQuota or an admission webhook must not keep lease expiry, cancel, the job's
status or its TTL from running in the same pass.
"""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from taskmill.operator.events import Recorder, regarding
from taskmill.operator.leaseends import TIMED_OUT, Note, cancel_notes, end_lease
from taskmill.operator.nomination import Nominations
from taskmill.operator.ownership import deleted_note, deletion_preconditions
from taskmill.operator.planning import Plan
from taskmill.operator.splitting import build_task, task_name
from taskmill.operator.store import Store, TaskRow

from taskmill.api import BatchJob, ObjectMeta, TaskPhase, protocol
from taskmill.api.meta import LABEL_NOMINEE
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.paths import BATCHJOBS, TASKS

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a request can fail with besides a bug: the API server's refusal or the network.
TRANSIENT = (ApiError, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class Outcome:
    failed: int = 0  # writes that failed; a later pass retries them
    create_error: str = ""  # why the API server refused to create a Task, if it did


class TaskWriter:
    def __init__(self, kube: KubeApi, store: Store, recorder: Recorder, concurrency: int) -> None:
        self._kube = kube
        self._store = store
        self._recorder = recorder
        self._limit = asyncio.Semaphore(concurrency)

    async def execute(
        self, job: BatchJob, p: Plan, now: datetime, nominations: Nominations | None = None
    ) -> Outcome:
        """The plan's writes; new Tasks annotated with their `nominations`, if given."""
        create_error = await self._create_all(job, p.create, nominations)
        failed = await self._all(
            *(self._set_phase(job, row, ph, why, now) for row, ph, why in p.set_phase),
            *(self._cancel(job, row, why) for row, why in p.cancel),
            *(self._end_lease(job, row, kind, now) for row, kind in p.expire),
            *(self._count_attempt(job, row, now) for row in p.count_attempt),
            *(self._unnominate(job, row) for row in p.unnominate),
        )
        return Outcome(failed=len(failed) + bool(create_error), create_error=create_error)

    async def _create_all(
        self, job: BatchJob, indexes: list[int], nominations: Nominations | None
    ) -> str:
        """Create in batches of 1, 2, 4, ... (the Job controller's slow start) and stop
        at the first refusal: a quota that admits nothing costs one request per pass, not
        one per missing Task. Returns the API server's message for the refusal, or ""."""
        done, size = 0, 1
        while done < len(indexes):
            batch = indexes[done : done + size]
            errors = await self._all(*(self._create(job, i, nominations) for i in batch))
            if errors:
                return errors[0]
            done, size = done + len(batch), size * 2
        return ""

    async def _all(self, *writes: Awaitable[None]) -> list[str]:
        """Run the writes, at most `concurrency` at once; the messages of those that failed."""
        results = await asyncio.gather(*(self._guarded(w) for w in writes))
        return [error for error in results if error]

    async def _guarded(self, write: Awaitable[None]) -> str:
        try:
            await self._limited(write)
        except TRANSIENT as e:
            message = e.message if isinstance(e, ApiError) else str(e) or type(e).__name__
            log.warning("write failed; retrying in a later pass", extra={"error": message})
            return message
        return ""

    async def _limited(self, write: Awaitable[T]) -> T:
        async with self._limit:
            return await write

    async def _create(self, job: BatchJob, index: int, nominations: Nominations | None) -> None:
        namespace = job.metadata.namespace
        body = build_task(job, index)
        if nominations is not None:
            nominations.stamp(body)
        try:
            created = await self._kube.create(TASKS.path(namespace), body)
        except ApiError as e:
            if e.status != 409:
                raise
            # The name is taken: by this job (a previous run got there first) or by a Task
            # an earlier job of this name left behind. Whose it is decides whether it
            # counts, so learn it now rather than wait for an event that may never come.
            try:
                created = await self._kube.get(
                    TASKS.path(namespace, task_name(job.metadata.name, index))
                )
            except ApiError as gone:
                if gone.status != 404:
                    raise
                return  # deleted meanwhile: a later pass creates it
        self._store.put_task(created, only_if_new=True)

    async def delete_foreign(self, job: BatchJob, names: list[str]) -> None:
        """Delete Tasks named for `job` that another owner holds; each is read first and
        deleted only on that version (ownership.deletion_preconditions)."""
        deleted = sum(
            await asyncio.gather(*(self._limited(self._delete_foreign(job, n)) for n in names))
        )
        if deleted:
            reason, note = deleted_note(job, deleted)
            await self._recorder.post(regarding(job), reason, note)

    async def _delete_foreign(self, job: BatchJob, name: str) -> bool:
        path = TASKS.path(job.metadata.namespace, name)
        try:
            body = await self._kube.get(path)
            preconditions = deletion_preconditions(job, body)
            if preconditions is None:
                self._store.put_task(body, only_if_new=True)
                return False
            await self._kube.delete(path, {"preconditions": preconditions})
        except TRANSIENT as e:
            if not (isinstance(e, ApiError) and e.status in (404, 409)):
                log.warning("could not delete a foreign Task", extra={"task": name, "error": e})
            return False
        return True

    async def delete_finished(self, job: BatchJob, doomed: list[tuple[int, str]]) -> int:
        """Delete finished Tasks the job's status records, given as (index, uid): each only
        as that very Task (a uid precondition), so a namesake is never touched. Gone
        already (404) or replaced (409) counts as done. Returns how many deletes failed:
        a later pass retries them, finding their Tasks still recorded."""
        meta = job.metadata
        failed = await self._all(*(self._delete_finished(meta, i, uid) for i, uid in doomed))
        return len(failed)

    async def _delete_finished(self, meta: ObjectMeta, index: int, uid: str) -> None:
        name = task_name(meta.name, index)
        try:
            await self._kube.delete(
                TASKS.path(meta.namespace, name), {"preconditions": {"uid": uid}}
            )
        except ApiError as e:
            if e.status not in (404, 409):
                raise
        self._store.deleted((meta.namespace, meta.name), meta.uid, name, index)

    async def _patch_status(self, job: BatchJob, row: TaskRow, ops: list[dict[str, Any]]) -> bool:
        path = TASKS.path(job.metadata.namespace, row.name, "status")
        try:
            self._store.put_task(await self._kube.json_patch(path, ops))
        except ApiError as e:
            if not e.conflict:
                raise
            log.debug("task moved on; skipping", extra={"task": row.name, "error": e.message})
            return False
        return True

    async def _patch_spec(self, job: BatchJob, row: TaskRow, spec: dict[str, Any]) -> bool:
        """Fenced on the lease this row saw, so a cancel meant for one attempt never reaches
        the next. The patch applies to the whole object, so it can test status fields."""
        path = TASKS.path(job.metadata.namespace, row.name)
        ops = [
            *protocol.Fence(row.holder, row.epoch).tests(),
            *({"op": "add", "path": f"/spec/{key}", "value": value} for key, value in spec.items()),
        ]
        try:
            self._store.put_task(await self._kube.json_patch(path, ops))
        except ApiError as e:
            if not (e.conflict or e.status == 404):
                raise
            log.debug("task moved on; spec kept", extra={"task": row.name, "error": e.message})
            return False
        return True

    async def _unnominate(self, job: BatchJob, row: TaskRow) -> None:
        """Take the nomination off a Pending Task whose nominee is gone, so every provider
        sees it (a provider watching only its own nominees and nobody's would not).
        Idempotent: a merge patch that removes a label."""
        path = TASKS.path(job.metadata.namespace, row.name)
        body = {"metadata": {"labels": {LABEL_NOMINEE: None}}}
        try:
            self._store.put_task(await self._kube.merge_patch(path, body))
        except ApiError as e:
            if e.status != 404:
                raise

    async def _set_phase(
        self, job: BatchJob, row: TaskRow, phase: TaskPhase, reason: str, now: datetime
    ) -> None:
        ops = protocol.set_phase(row.as_task(job.metadata.name), phase, reason, now)
        await self._patch_status(job, row, ops)

    async def _cancel(self, job: BatchJob, row: TaskRow, reason: str) -> None:
        """Ask the holder to terminate the work; it acknowledges by releasing into Held."""
        if await self._patch_spec(job, row, {"cancel": True, "cancelReason": reason}):
            await self._post(job, row, cancel_notes(row, reason), [])

    async def _clear_cancel(self, job: BatchJob, row: TaskRow) -> None:
        """Before a timed-out task may be leased again, so its next holder runs it."""
        if row.cancel:
            await self._patch_spec(job, row, {"cancel": False})

    async def _end_lease(self, job: BatchJob, row: TaskRow, kind: str, now: datetime) -> None:
        """Read the Task back and end the lease the plan saw, as leaseends decides."""
        body = await self._kube.get(TASKS.path(job.metadata.namespace, row.name))
        end = end_lease(row, body, kind, now)
        if end is None:
            self._store.put_task(body)
            return
        if end.clear_cancel:
            await self._clear_cancel(job, row)
        if await self._patch_status(job, row, end.ops):
            await self._post(job, row, end.task_notes, end.job_notes)

    async def _post(
        self, job: BatchJob, row: TaskRow, on_task: list[Note], on_job: list[Note]
    ) -> None:
        for reason, note in on_task:
            await self._recorder.post(regarding(job, row.name, row.uid), reason, note)
        for reason, note in on_job:
            await self._recorder.post(regarding(job), reason, note)

    async def _count_attempt(self, job: BatchJob, row: TaskRow, now: datetime) -> None:
        """A timed-out task's holder acknowledged the cancel: retry it, or fail it."""
        await self._clear_cancel(job, row)
        ops = protocol.count_attempt(row.as_task(job.metadata.name), now, reason=TIMED_OUT)
        await self._patch_status(job, row, ops)

    async def delete_job(self, job: BatchJob) -> None:
        meta = job.metadata
        body = {"propagationPolicy": "Background", "preconditions": {"uid": meta.uid}}
        try:
            await self._kube.delete(BATCHJOBS.path(meta.namespace, meta.name), body)
        except ApiError as e:
            if e.status not in (404, 409):
                raise
