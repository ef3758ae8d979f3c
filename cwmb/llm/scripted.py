"""A scripted OpenAI-compatible server, for tests and benchmarks of anything that calls an LLM.

It speaks real HTTP on 127.0.0.1 from a background thread, answers `/v1/chat/completions` from
a script, and records every request it gets:

    with ScriptedLLM(["first answer", "second answer"]) as llm:
        ...  # point a client or a gateway at llm.base_url
        assert llm.upstream_calls == 2

A script is a list served in order, or a rule: a callable taking the request body and returning
the next reply. A reply is a string (the answer's text) or a dict with any of
`content`, `finish_reason`, `usage` ({prompt_tokens, completion_tokens}), `status` with `error`
(an HTTP error answer), `delay_s`, `headers`. A list that runs out answers HTTP 400 saying so.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]
ReplySpec = str | Json
Rule = Callable[[Json], ReplySpec]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Json | None = field(default=None)

    @property
    def messages(self) -> list[Json]:
        return list((self.body or {}).get("messages", []))


def _words(value: Any) -> int:
    return len(str(value).split())


class ScriptedLLM:
    def __init__(self, script: Sequence[ReplySpec] | Rule | None = None):
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._script: Sequence[ReplySpec] | Rule = ()
        self._position = 0
        if script is not None:
            self.script(script)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- configuration ----------------------------------------------------------------------
    def script(self, script: Sequence[ReplySpec] | Rule) -> ScriptedLLM:
        """Replace the script (a list served in order, or a rule) and start again from its top."""
        with self._lock:
            self._script = script if callable(script) else list(script)
            self._position = 0
        return self

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def upstream_calls(self) -> int:
        """How many chat completions were asked of this server."""
        return len(self.chat_requests)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> ScriptedLLM:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering --------------------------------------------------------------------------
    def _next(self, body: Json) -> ReplySpec:
        with self._lock:
            script = self._script
            if callable(script):
                rule = script
            else:
                if self._position >= len(script):
                    return {
                        "status": 400,
                        "error": f"scripted LLM: script exhausted after {len(script)} replies",
                    }
                reply = script[self._position]
                self._position += 1
                return reply
        return rule(body)

    def _answer(self, body: Json) -> tuple[int, Json, dict[str, str]]:
        spec = self._next(body)
        if isinstance(spec, str):
            spec = {"content": spec}
        if spec.get("delay_s"):
            time.sleep(float(spec["delay_s"]))
        headers = dict(spec.get("headers") or {})
        status = int(spec.get("status", 200))
        if status != 200:
            message = spec.get("error", f"scripted error {status}")
            return (
                status,
                {"error": {"message": message, "type": "scripted", "code": None}},
                headers,
            )
        content = str(spec.get("content", ""))
        usage = spec.get("usage") or {
            "prompt_tokens": sum(_words(m.get("content", "")) for m in body.get("messages", [])),
            "completion_tokens": _words(content),
        }
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
        n = int(body.get("n") or 1)
        return (
            200,
            {
                "id": f"chatcmpl-scripted-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": spec.get("finish_reason", "stop"),
                    }
                    for i in range(n)
                ],
                "usage": usage,
            },
            headers,
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, payload: Json, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: Json | None) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with owner._lock:
                    owner.requests.append(RecordedRequest(self.command, self.path, headers, body))

            def do_GET(self) -> None:
                self._record(None)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]}
                    )
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._record(None)
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                self._record(body)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                status, payload, headers = owner._answer(body)
                self._send(status, payload, headers)

        return Handler


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fixed answer until standard input closes; print the base URL first.
    For benchmarks that want the upstream in a process of its own."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="a scripted OpenAI-compatible server")
    parser.add_argument("--reply", default="ok", help="the answer to every request")
    args = parser.parse_args(argv)
    with ScriptedLLM(lambda request: args.reply) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
