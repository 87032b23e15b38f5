"""WebSocket `R/actions/runs/:runId/ws`: live `workflow.*` events, plus job logs on request.

On connect: `{type: connected, data: {connectionId, lastEventId}}`, then `{type: replay, data:
{events, count}}` for events after `?last_event_id=`, then each new event as `{type, data,
eventId, event_id}` until `workflow.run.completed`. The client may send `ping` (-> `pong`) and
`{"type": "logs", "jobId": ..., "offset": n}` to receive that job's log as `{type: "log", data:
{job_id, offset, next_offset, text}}` frames (then `{type: "log.end"}`), resumable by offset.
Auth: the console session, `Authorization: Bearer`, or `?token=`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from takos.api.errors import ApiError
from workflows import selectors, services, streams
from workflows.api.serializers import event_out


class RunConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        from auth_app.authentication import resolve_token

        kwargs = self.scope["url_route"]["kwargs"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        user = self.scope.get("user")
        token = (query.get("token") or [""])[0]
        for name, value in self.scope.get("headers", []):
            if name == b"authorization" and value.lower().startswith(b"bearer "):
                token = value.decode().split(None, 1)[1]
        if token:
            found = await sync_to_async(resolve_token)(token)
            if found is None:
                await self.close(code=4401)
                return
            user = found[0]
        try:
            repo = await sync_to_async(selectors.repo)(user, kwargs["repo_id"])
            self.run = await sync_to_async(selectors.run)(repo, kwargs["run_id"])
        except ApiError:
            await self.close(code=4404)
            return
        self.repo = repo
        self.tasks: list[asyncio.Task] = []
        try:
            after = max(0, int((query.get("last_event_id") or ["0"])[0]))
        except ValueError:
            after = 0
        await self.accept()
        await self.send_json({"type": "connected", "data": {"connectionId": uuid.uuid4().hex,
                                                            "lastEventId": self.run.last_event_seq}})
        backlog = await sync_to_async(selectors.events_after)(self.run, after)
        await self.send_json({"type": "replay", "data": {"events": [event_out(e) for e in backlog],
                                                         "count": len(backlog)}})
        last = backlog[-1].seq if backlog else after
        finished = bool(backlog) and backlog[-1].type == services.TERMINAL_EVENT and \
            backlog[-1].data.get("run_attempt", self.run.run_attempt) >= self.run.run_attempt
        if not finished:
            self.tasks.append(asyncio.create_task(self._events(last)))

    async def _events(self, after: int) -> None:
        async for item in streams.run_events(self.run.id, after):
            if item is None:
                continue
            seq, type_, data = item
            await self.send_json({"type": type_, "data": data, "eventId": seq, "event_id": seq})

    async def _logs(self, job_id: str, offset: int) -> None:
        async for item in streams.job_log(job_id, offset):
            if item is None:
                continue
            data = item[2]
            if isinstance(data, streams.LogFrame):  # built as bytes: see streams.json_text
                body = streams.log_json(job_id, data.offset, data.data)
                await self.send(text_data='{"type":"log","data":' + body.decode() + "}")
            else:
                await self.send_json({"type": "log.end", "data": {"job_id": job_id, **data}})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data == "ping":
            await self.send_json({"type": "pong"})
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        elif content.get("type") == "logs" and content.get("jobId"):
            try:
                job = await sync_to_async(selectors.job)(self.repo, str(content["jobId"]))
            except ApiError:
                await self.send_json({"type": "error", "data": {"message": "Job not found."}})
                return
            if job.run_id != self.run.id:
                await self.send_json({"type": "error", "data": {"message": "Job not found."}})
                return
            try:
                offset = max(0, int(content.get("offset") or 0))
            except (TypeError, ValueError):
                offset = 0
            self.tasks.append(asyncio.create_task(self._logs(job.id, offset)))

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
