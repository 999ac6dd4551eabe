"""A Slack Web API stand-in for tests: an aiohttp app on a free loopback port that answers
the methods Pagerbot calls the way Slack does, records every call, keeps messages so
`chat.update` edits them, and fails on request (429 + Retry-After, 5xx, slow answers).

Also a Socket Mode end: `apps.connections.open` returns a ws:// URL of this stand-in;
the websocket greets with `hello`, `socket_send()` pushes envelopes, acks are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

_ID = re.compile(r"^[CDG][A-Z0-9]{2,}$")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived
    token: str | None
    outcome: str = "ok"  # ok | error name | http status | "delayed"


@dataclass
class Failure:
    times: int
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    error: str | None = None  # an `ok: false` answer with this error
    apply: bool = False  # the call takes effect before failing (the answer is lost)
    after: int = 0  # calls to let through first


@dataclass
class Message:
    channel: str
    ts: str
    params: dict[str, Any]
    thread_ts: str | None
    edits: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = orjson.loads(blocks)
        return list(blocks)

    @property
    def metadata(self) -> dict[str, Any] | None:
        meta = self.params.get("metadata")
        if isinstance(meta, str):
            meta = orjson.loads(meta)
        return meta


class SlackStandin:
    """Use as `async with SlackStandin() as slack:`; point clients at `slack.api_url`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.uploads: dict[str, bytes] = {}
        self.socket_received: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._failures: dict[str, list[Failure]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.users: dict[str, dict[str, Any]] = {}
        self.socket_connected = asyncio.Event()
        self._channel_ids: dict[str, str] = {}

    # ------------------------------------------------------------------ test controls

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def fail(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 200,
        retry_after: float | None = None,
        delay: float = 0.0,
        error: str | None = None,
        apply: bool = False,
        after: int = 0,
    ) -> None:
        """The next `times` calls of `method` fail: `status=429, retry_after=2`;
        `status=500`; `delay=5` (answers late: a client timeout); `error="..."` (ok:false).
        `apply=True` makes the call take effect first, so only the answer is lost.
        `after=N` lets the next N calls through first. Failures queue in order."""
        self._failures.setdefault(method, []).append(
            Failure(times, status, retry_after, delay, error, apply, after)
        )

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        return [c for c in self.calls if c.method == method and (not ok_only or c.outcome == "ok")]

    def channel_messages(self, channel: str, *, top_level: bool = True) -> list[Message]:
        """Messages of a channel (name or id) in posting order (top-level only by default)."""
        channel = self.channel_id(channel)
        found = [m for m in self.messages.values() if m.channel == channel]
        if top_level:
            found = [m for m in found if m.thread_ts is None]
        return sorted(found, key=lambda m: float(m.ts))

    def thread(self, channel: str, ts: str) -> list[Message]:
        channel = self.channel_id(channel)
        found = [m for m in self.messages.values() if m.channel == channel and m.thread_ts == ts]
        return sorted(found, key=lambda m: float(m.ts))

    def dm_channel(self, user: str) -> str:
        """The DM channel conversations.open gives for `user`."""
        return f"D{user.upper()}"

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push a Socket Mode envelope to every connected client."""
        for ws in list(self._sockets):
            await ws.send_str(orjson.dumps(envelope).decode())

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SlackStandin:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ HTTP

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        body = await request.read()
        if body:
            ctype = request.content_type
            if ctype == "application/json":
                params.update(orjson.loads(body))
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("blocks", "metadata", "files", "view", "attachments"):
            value = params.get(key)
            if isinstance(value, str) and value[:1] in ("[", "{"):
                params[key] = orjson.loads(value)
        return params

    def _next_failure(self, method: str) -> Failure | None:
        pending = self._failures.get(method)
        if not pending:
            return None
        failure = pending[0]
        if failure.after > 0:
            failure.after -= 1
            return None
        failure.times -= 1
        if failure.times <= 0:
            pending.pop(0)
        return failure

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        call = Call(method, params, time.monotonic(), token)
        self.calls.append(call)
        failure = self._next_failure(method)
        if failure is not None and not failure.apply:
            return await self._failed(call, failure)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            call.outcome = "unknown_method"
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer: dict[str, Any] = handler(params)
        if failure is not None:
            return await self._failed(call, failure)
        call.outcome = "ok" if answer.get("ok") else str(answer.get("error"))
        return web.json_response(answer)

    async def _failed(self, call: Call, failure: Failure) -> web.Response:
        if failure.delay:
            call.outcome = "delayed"
            await asyncio.sleep(failure.delay)
        if failure.error is not None:
            call.outcome = failure.error
            return web.json_response({"ok": False, "error": failure.error})
        if failure.status == 429:
            call.outcome = "429"
            headers = {"Retry-After": str(int(failure.retry_after or 1))}
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers=headers
            )
        if failure.status >= 500:
            call.outcome = str(failure.status)
            return web.Response(status=failure.status, text="upstream trouble")
        return web.json_response({"ok": False, "error": "request_timeout"})

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        file_id = request.match_info["file_id"]
        self.calls.append(Call("upload", {"file_id": file_id}, time.monotonic(), None))
        return web.Response(text="OK - uploaded")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        await ws.send_str(orjson.dumps(hello).decode())
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_received.append(orjson.loads(msg.data))
        finally:
            self._sockets.remove(ws)
        return ws

    # ------------------------------------------------------------------ methods

    def _new_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def channel_id(self, name: str) -> str:
        """The id Slack gives a channel named `name` ("#payments" or "payments"); ids
        (C…/D…/G…) are kept. Like Slack, chat.update and conversations.history want ids."""
        if _ID.match(name):
            return name
        key = name.lstrip("#")
        if key not in self._channel_ids:
            self._channel_ids[key] = f"C{len(self._channel_ids) + 1:06d}"
        return self._channel_ids[key]

    def _known_id(self, channel: str) -> str | None:
        return channel if _ID.match(channel) else None

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "pagerbot",
            "team_id": "T0",
            "user_id": "UBOT",
            "bot_id": "BBOT",
        }

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if "channel" not in params:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        channel = self.channel_id(str(params["channel"]))
        ts = self._new_ts()
        thread_ts = params.get("thread_ts")
        msg = Message(channel, ts, dict(params), str(thread_ts) if thread_ts else None)
        self.messages[(channel, ts)] = msg
        body = {"type": "message", "ts": ts, "text": msg.text, "bot_id": "BBOT"}
        return {"ok": True, "channel": channel, "ts": ts, "message": body}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_id(str(params.get("channel", ""))) or ""
        msg = self.messages.get((channel, str(params.get("ts", ""))))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        msg.history.append(dict(msg.params))
        merged = dict(msg.params)
        merged.update({k: v for k, v in params.items() if k not in ("channel", "ts")})
        msg.params = merged
        msg.edits += 1
        return {"ok": True, "channel": channel, "ts": msg.ts, "text": msg.text}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if "channel" not in params or "user" not in params:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "message_ts": self._new_ts()}

    def _m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_id(str(params.get("channel", ""))) or ""
        ts = str(params.get("message_ts", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://standin.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": self.dm_channel(users.split(",")[0])}}

    def _page(self, found: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        """Slack's cursor pagination over `found`, with metadata when asked for."""
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        out = []
        for m in found[start : start + limit]:
            item: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text}
            if m.thread_ts:
                item["thread_ts"] = m.thread_ts
            if with_meta and m.metadata:
                item["metadata"] = m.metadata
            out.append(item)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": out,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_id(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        found = list(reversed(self.channel_messages(channel)))  # newest first, like Slack
        return self._page(found, params)

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_id(str(params.get("channel", "")))
        parent = self.messages.get((channel or "", str(params.get("ts", ""))))
        if channel is None or parent is None:
            return {"ok": False, "error": "thread_not_found"}
        return self._page([parent, *self.thread(channel, parent.ts)], params)

    def _m_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = [
            {"id": cid, "name": name, "is_channel": True} for name, cid in self._channel_ids.items()
        ]
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        more = start + limit < len(channels)
        return {
            "ok": True,
            "channels": channels[start : start + limit],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user", ""))
        if not user:
            return {"ok": False, "error": "user_not_found"}
        profile = self.users.get(user, {"real_name": f"User {user}", "tz": "UTC"})
        return {"ok": True, "user": {"id": user, "name": user.lower(), **profile}}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids)}"
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files") or []
        if isinstance(files, str):
            files = orjson.loads(files)
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view") or {}
        return {"ok": True, "view": {"id": f"V{next(self._ids)}", **view}}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ws_url = self.base_url.replace("http://", "ws://") + "/socket"
        return {"ok": True, "url": ws_url}


@contextlib.asynccontextmanager
async def slack_standin() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin
