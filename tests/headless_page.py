"""A page in headless Chromium that a test can run JavaScript in: the DevTools protocol over the
pipes Chromium reads and writes with `--remote-debugging-pipe` (fds 3 and 4), so no websocket
library and no port."""

import json
import os
import select
import shutil
import signal
import sys
from pathlib import Path

REPLY_TIMEOUT_S = 120  # above wait_for's 60 s, which waits inside one call
# Chromium by the names Debian, Ubuntu and Google give it, then macOS's app bundles: any of them runs the tests.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_BROWSERS = ("/Applications/Chromium.app/Contents/MacOS/Chromium",
                "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")


def chromium() -> str:
    """The browser the studio's tests drive: $CHROMIUM when set, else the first of BROWSER_NAMES on the PATH or of
    MAC_BROWSERS that exists. `python tests/headless_page.py` prints it (the Makefile's `browser` asks so)."""
    if named := os.environ.get("CHROMIUM"):
        if (path := shutil.which(named)) is None:
            raise FileNotFoundError(f"CHROMIUM={named} is not an executable: name Chromium or Google Chrome")
        return path
    found = [shutil.which(name) for name in BROWSER_NAMES] + [path for path in MAC_BROWSERS if os.access(path, os.X_OK)]
    if not any(found):
        raise FileNotFoundError(f"the studio's browser tests need Chromium or Google Chrome, and none is here (looked "
                                f"for {', '.join(BROWSER_NAMES)} on the PATH and in /Applications): install one "
                                f"(Debian: apt-get install chromium; macOS: Google Chrome) or name it with "
                                f"CHROMIUM=/path/to/it")
    return next(filter(None, found))


class HeadlessPage:
    """`with HeadlessPage(url, profile) as page: page.js("1 + 1")`."""

    def __init__(self, url: str, profile: Path):
        browser = chromium()
        to_chromium, self._commands = os.pipe()
        self._replies, from_chromium = os.pipe()
        argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank"]
        self._pid = os.posix_spawn(browser, argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, to_chromium, 3), (os.POSIX_SPAWN_DUP2, from_chromium, 4),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])  # its D-Bus complaints
        os.close(to_chromium)
        os.close(from_chromium)
        self._unread = b""
        self._next_id = 0
        try:
            target = self._call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            # Navigating now rather than at creation: its reply comes once the page's document is committed,
            # so js() runs in it, not in about:blank's (destroyed mid-call).
            self._call("Page.navigate", self._session, url=url)
        except BaseException:
            self._end(kill=True)
            raise

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:  # replies and events, each ended by a NUL; skip to this call's reply
            while b"\0" not in self._unread:
                ready, _, _ = select.select([self._replies], [], [], REPLY_TIMEOUT_S)
                assert ready, f"Chromium gave no reply to {method} in {REPLY_TIMEOUT_S} s"
                chunk = os.read(self._replies, 1 << 16)
                assert chunk, f"Chromium closed its pipe during {method}"
                self._unread += chunk
            line, self._unread = self._unread.split(b"\0", 1)
            reply = json.loads(line)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method}: {reply.get('error')}"
                return reply["result"]

    def js(self, expression: str):
        """The value of `expression` in the page (awaited when it is a promise)."""
        result = self._call("Runtime.evaluate", self._session, expression=expression, awaitPromise=True,
                            returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, condition: str, seconds: float = 60) -> bool:
        """Whether the async JavaScript `condition` turned true within `seconds`, checked in the page every 20 ms
        (a check that throws, say on a blob the page has just let go of, counts as false)."""
        return self.js(f"""(async () => {{
            const until = Date.now() + {seconds * 1000};
            while (Date.now() < until) {{
                try {{
                    if (await (async () => {condition})()) return true;
                }} catch {{}}
                await new Promise(resolve => setTimeout(resolve, 20));
            }}
            return false;
        }})()""")

    def __enter__(self) -> "HeadlessPage":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._call("Browser.close")
        except AssertionError:  # no answer: do not wait on it below for ever
            self._end(kill=True)
            raise
        self._end(kill=False)

    def _end(self, kill: bool) -> None:
        if kill:
            os.kill(self._pid, signal.SIGKILL)
        os.close(self._commands)
        os.close(self._replies)
        os.waitpid(self._pid, 0)


if __name__ == "__main__":
    try:
        print(chromium())
    except FileNotFoundError as error:
        sys.exit(f"error: {error}")
