"""Headless Chromium driven over the Chrome DevTools Protocol, for tests of pages the proxy serves.

`running_chromium(work_dir)` starts Debian's chromium with a fresh profile, yields a `Page` on its
first tab, and always stops the browser (and every process it started) when the block ends. The
flags keep it from reaching anything but the pages it is sent to: on a closed network its own
background connections would only fail and slow it down.

Without chromium the calling test skips, unless REQUIRE_DOCKER=1 (CI), where it fails:
`require_chromium()` does one or the other.
"""

import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
    "--remote-debugging-port=0",  # any free port; the browser writes it to DevToolsActivePort
)
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
COMMAND_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.1
WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=COMMAND_TIMEOUT_SECONDS)  # each command has its own bound


def require_chromium() -> str:
    """The chromium executable; skip the calling test without one, fail it when REQUIRE_DOCKER=1."""
    executable = shutil.which(CHROMIUM)
    if executable is None:
        reason = "no chromium on PATH (Debian: apt-get install chromium)"
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(reason)
    return executable


class Page:
    """One tab: run JavaScript in it, wait for a condition, click and type as a user would."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._last_id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command and its result (events the browser sends meanwhile are dropped)."""
        self._last_id += 1
        await self._socket.send_json({"id": self._last_id, "method": method, "params": params})
        async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
            async for message in self._socket:
                answer = json.loads(message.data)
                if answer.get("id") == self._last_id:
                    if "error" in answer:
                        raise AssertionError(f"{method} failed: {answer['error']}")
                    return answer["result"]
        raise AssertionError(f"the browser closed the connection during {method}")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, within_seconds: float) -> Any:
        """The expression's value once it is truthy; AssertionError after `within_seconds`."""
        give_up = time.monotonic() + within_seconds
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > give_up:
                raise AssertionError(f"still false after {within_seconds} s: {expression}")
            await asyncio.sleep(POLL_SECONDS)
        return value

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def click(self, selector: str) -> None:
        """Click the middle of the first element the CSS selector matches, with the mouse: focus moves
        as it does for a user (a field being typed in loses it, and takes what was typed)."""
        x, y = await self.evaluate(
            f"(e => {{ e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); "
            f"return [r.x + r.width / 2, r.y + r.height / 2]; }})"
            f"(document.querySelector({json.dumps(selector)}))"
        )
        for event in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=event, x=x, y=y, button="left", clickCount=1)

    async def type_into(self, selector: str, text: str) -> None:
        """Replace the text of an input or textarea with `text`, typed in as keyboard input."""
        await self.click(selector)
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        await self.send("Input.insertText", text=text)


async def _devtools_port(process: asyncio.subprocess.Process, profile: pathlib.Path) -> int:
    port_file = profile / "DevToolsActivePort"
    give_up = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < give_up:
        if process.returncode is not None:
            raise AssertionError(f"chromium exited with {process.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(port_file.read_text().splitlines()[0])
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"chromium wrote no {port_file.name} within {START_TIMEOUT_SECONDS} s")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Stop the browser (SIGTERM, SIGKILL if it hangs), then what is left of the process group it
    leads (renderers, zygote)."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def running_chromium(work_dir: pathlib.Path) -> AsyncIterator[Page]:
    """Headless chromium with a fresh profile under `work_dir` (its log beside it): its first tab."""
    executable = require_chromium()
    profile = work_dir / "chromium-profile"
    profile.mkdir()
    command = [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
    with (work_dir / "chromium.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True
        )
    try:
        port = await _devtools_port(process, profile)
        timeout = aiohttp.ClientTimeout(total=COMMAND_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                tabs = await answer.json()
            tab = next(tab for tab in tabs if tab["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], timeout=WS_TIMEOUT) as socket:
                yield Page(socket)
    finally:
        await _stop(process)
