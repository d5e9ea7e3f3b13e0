#!/usr/bin/python3
"""Drives a headless Chromium over the DevTools protocol for the console
tests (t/220-console.t, through t/lib/Omni/Browser.pm).

usage: cdp_driver.py PROFILE_DIR

Starts Chromium with a fresh profile in PROFILE_DIR, opens one page and
reads commands from stdin, one JSON object a line, answering each on stdout
with one JSON line: {"ok": true, ...} or {"ok": false, "error": "..."}.

  {"op": "navigate", "url": U}           load U, wait for the load event
  {"op": "eval", "expr": E}              evaluate E in the page (promises
                                         awaited), answer its value
  {"op": "wait", "expr": E, "timeout": S}  until E is truthy, or fail
  {"op": "click", "selector": S}         a mouse click in the middle of S
  {"op": "type", "selector": S, "text": T}  focus S, insert T as typed
  {"op": "screenshot", "path": P}        a PNG of the page
  {"op": "events"}                       what the page did so far: console
                                         messages, exceptions, log entries,
                                         requests and responses
  {"op": "quit"}

Chromium runs in a process group of its own, ended when the driver ends
(quit, end of stdin, a signal), so that no browser outlives a test.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import websocket

CHROMIUM = os.environ.get("OMNI_CHROMIUM", "/usr/bin/chromium")
CALL_TIMEOUT = 15.0


class Browser:
    def __init__(self, profile):
        self.profile = profile
        self.process = None
        self.ws = None
        self.next_id = 0
        self.events = {"console": [], "exceptions": [], "log": [],
                       "requests": [], "responses": []}
        self.loaded = False

    def start(self):
        flags = [
            "--headless", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps",
            "--disable-dev-shm-usage", "--password-store=basic",
            "--window-size=1280,1600", "--remote-debugging-port=0",
            "--user-data-dir=" + self.profile,
        ]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")   # Chromium's sandbox refuses root
        log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.process = subprocess.Popen(
            [CHROMIUM] + flags + ["about:blank"], stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, start_new_session=True)

        # port 0: Chromium picks a free port and writes it here
        active = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 20
        port = None
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("chromium exited with %d (see %s)"
                                   % (self.process.returncode, log.name))
            try:
                with open(active) as f:
                    port = int(f.readline())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if port is None:
            raise RuntimeError("chromium wrote no DevToolsActivePort")

        page = None
        while page is None and time.time() < deadline:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                targets = json.load(r)
            page = next((t for t in targets if t.get("type") == "page"), None)
            if page is None:
                time.sleep(0.05)
        if page is None:
            raise RuntimeError("chromium opened no page")

        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=CALL_TIMEOUT,
            suppress_origin=True)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")
        # counted apart from the log, so a violation is told from other
        # errors whatever words Chromium uses for it
        self.call("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " window.__cspViolations.push(e.violatedDirective + ' '"
            " + e.blockedURI));"))

    def stop(self):
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass

    def call(self, method, timeout=CALL_TIMEOUT, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method,
                                 "params": params}))
        deadline = time.time() + timeout
        while True:
            message = self.receive(deadline, method)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError("%s: %s" % (method, message["error"]))
                return message.get("result", {})

    def receive(self, deadline, waiting_for):
        left = deadline - time.time()
        if left <= 0:
            raise RuntimeError("timed out waiting for " + waiting_for)
        self.ws.settimeout(left)
        try:
            message = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            raise RuntimeError("timed out waiting for " + waiting_for)
        if "method" in message:
            self.record(message["method"], message.get("params", {}))
        return message

    def record(self, method, params):
        if method == "Runtime.consoleAPICalled":
            self.events["console"].append({
                "type": params.get("type"),
                "text": " ".join(str(a.get("value", a.get("description", "")))
                                 for a in params.get("args", []))})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.events["exceptions"].append(
                details.get("exception", {}).get("description")
                or details.get("text"))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.events["log"].append({k: entry.get(k)
                                       for k in ("source", "level", "text",
                                                 "url")})
        elif method == "Network.requestWillBeSent":
            request = params.get("request", {})
            self.events["requests"].append({
                "url": request.get("url"), "method": request.get("method"),
                "headers": request.get("headers", {})})
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            self.events["responses"].append({
                "url": response.get("url"), "status": response.get("status"),
                "headers": response.get("headers", {})})
        elif method == "Page.loadEventFired":
            self.loaded = True

    def evaluate(self, expr):
        result = self.call("Runtime.evaluate", expression=expr,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description")
                               or details.get("text"))
        return result.get("result", {}).get("value")

    def navigate(self, url):
        self.loaded = False
        self.call("Page.navigate", url=url)
        deadline = time.time() + CALL_TIMEOUT
        while not self.loaded:
            self.receive(deadline, "the load event of " + url)

    def wait(self, expr, timeout):
        deadline = time.time() + timeout
        while True:
            value = self.evaluate(expr)
            if value:
                return value
            if time.time() > deadline:
                raise RuntimeError("still false after %ss: %s" % (timeout, expr))
            time.sleep(0.05)

    def centre(self, selector):
        box = self.evaluate(
            "(() => { const e = document.querySelector(%s);"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return r.width && r.height ? [r.x + r.width / 2,"
            " r.y + r.height / 2] : null; })()" % json.dumps(selector))
        if box is None:
            raise RuntimeError("nothing visible matches " + selector)
        return box

    def click(self, selector):
        x, y = self.centre(selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y,
                      button="left", clickCount=1)

    def type(self, selector, text):
        self.click(selector)
        self.call("Input.insertText", text=text)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def answer(reply):
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main():
    browser = Browser(sys.argv[1])
    # a signal ends the driver through its finally, which ends Chromium
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        browser.start()
        answer({"ok": True, "chromium_pid": browser.process.pid})
        ops = {
            "navigate": lambda c: browser.navigate(c["url"]),
            "eval": lambda c: browser.evaluate(c["expr"]),
            "wait": lambda c: browser.wait(c["expr"], c.get("timeout", 5)),
            "click": lambda c: browser.click(c["selector"]),
            "type": lambda c: browser.type(c["selector"], c["text"]),
            "screenshot": lambda c: browser.screenshot(c["path"]),
            "events": lambda c: browser.events,
        }
        for line in sys.stdin:
            command = json.loads(line)
            op = command.get("op")
            if op == "quit":
                answer({"ok": True})
                break
            try:
                if op not in ops:
                    raise RuntimeError("unknown op %r" % op)
                answer({"ok": True, "value": ops[op](command)})
            except (RuntimeError, KeyError,
                    websocket.WebSocketException) as e:
                answer({"ok": False, "error": str(e)})
    except Exception as e:
        answer({"ok": False, "error": "driver: %s" % e})
    finally:
        browser.stop()


if __name__ == "__main__":
    main()
