"""A small Language Server Protocol client over stdio, enough to drive yaml-language-server.

JSON-RPC messages framed by Content-Length headers; requests the server
sends us (workspace/configuration, client/registerCapability) get plain
answers, notifications are kept so the test can read diagnostics.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

SETTINGS = {"validate": True, "completion": True, "hover": False, "schemaStore": {"enable": False}}


class Client:
    def __init__(self, command: list[str], root: Path) -> None:
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._next = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self._published: dict[str, float] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "capabilities": {
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": True}},
                        "publishDiagnostics": {},
                    },
                    "workspace": {"configuration": True},
                },
            },
        )
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": SETTINGS}})

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            if "id" in message and "method" in message:  # a request from the server
                self._answer(message)
            elif "id" in message:
                self._replies[message["id"]].put(message)
            elif message.get("method") == "textDocument/publishDiagnostics":
                params = message["params"]
                with self._lock:
                    self.diagnostics[params["uri"]] = params["diagnostics"]
                    self._published[params["uri"]] = time.monotonic()

    def _answer(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [SETTINGS for _ in message["params"]["items"]]
        self._send({"id": message["id"], "result": result})

    def request(self, method: str, params: dict[str, Any], timeout: float = 60) -> Any:
        self._next += 1
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies[self._next] = box
        self._send({"id": self._next, "method": method, "params": params})
        reply = box.get(timeout=timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        with self._lock:
            self.diagnostics.pop(uri, None)
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "yaml",
                    "version": 1,
                    "text": text if text is not None else path.read_text(encoding="utf-8"),
                }
            },
        )
        return uri

    def settled_diagnostics(self, uri: str, timeout: float = 30, quiet: float = 1.0) -> list[Any]:
        """The diagnostics of ``uri`` once the server has published and then been quiet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                at = self._published.get(uri)
                if at is not None and uri in self.diagnostics and time.monotonic() - at >= quiet:
                    return list(self.diagnostics[uri])
            time.sleep(0.05)
        raise TimeoutError(f"no diagnostics for {uri}")

    def close(self) -> None:
        try:
            self.request("shutdown", {}, timeout=10)
            self.notify("exit", {})
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
