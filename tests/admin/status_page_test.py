#!/usr/bin/env python3
"""The status page at / in Debian's headless Chromium, against the real sidelight watching real
processes: the page draws every target and the timeline, a killed target's row turns down
without the page reloading, a hostile target name is shown as text and never run, and the page
asks nothing of any address but sidelight's own. Screenshots before and after the kill go into
OUT_DIR. The browser is driven over the DevTools protocol on a pipe (--remote-debugging-pipe),
so nothing but the standard library is needed.

    status_page_test.py path/to/sidelight OUT_DIR
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SCALE = float(os.environ.get("SIDELIGHT_TEST_TIME_SCALE", "1"))
HOSTILE = '<img src=x onerror="window.__xss=1">&amp;"\''


def fail(message, *logs):
    print("FAIL:", message)
    for path in logs:
        if path and os.path.exists(path):
            print(f"--- {path}:")
            with open(path, errors="replace") as f:
                print(f.read()[-4000:])
    sys.exit(1)


def ensure_chromium():
    """Debian's chromium, installed with apt-get when it is missing (quiet when it is there)."""
    found = shutil.which("chromium")
    if found:
        return found
    print("[status page] installing Debian's chromium with apt-get", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(install, env=env, check=True, stdout=subprocess.DEVNULL)
    return shutil.which("chromium") or fail("chromium is still not on PATH after apt-get install")


class DevTools:
    """The DevTools protocol over Chromium's pipe: fd 3 to the browser, fd 4 from it, one JSON
    message per NUL-terminated frame."""

    def __init__(self, chromium, workdir, log):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--disable-extensions", "--mute-audio",
                 f"--user-data-dir={workdir}/chromium-profile", "--remote-debugging-pipe",
                 "--window-size=1280,1000", "about:blank"]
        # The browser expects the pipe on fds 3 and 4 exactly: the shell puts it there.
        script = f'exec 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-; exec "$@"'
        self.proc = subprocess.Popen(["bash", "-c", script, "chromium", chromium, *flags],
                                     pass_fds=(to_browser_r, from_browser_w),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, timeout=20, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout * SCALE
        while True:
            reply = self._read(deadline, f"the answer to {method}")
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, deadline, what):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise TimeoutError(f"no {what} from chromium within the time allowed")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed its DevTools pipe while we awaited {what}")
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(frame)

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, timeout=30, session=False)
        attached = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                             session=False)
        self.session = attached["sessionId"]
        self.send("Network.enable")
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})

    def eval(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path):
        import base64
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def await_true(devtools, expression, what, timeout, *logs):
    """Evaluates `expression` in the page until it is true; fails naming `what` at the bound."""
    deadline = time.monotonic() + timeout * SCALE
    last = None
    while time.monotonic() < deadline:
        try:
            if devtools.eval(expression):
                return
        except RuntimeError as e:
            last = e
        time.sleep(0.1)  # the page refreshes every 2 s; polling the DOM is the await
    text = devtools.eval("document.body ? document.body.innerText : ''")
    fail(f"within {timeout * SCALE:.0f} s, expected {what}; last error: {last}\npage text:\n{text}", *logs)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sidelight(binary, workdir, yaml):
    """sidelight on a free loopback port (admin.listen takes no port 0): another one if a
    process took the port between our choosing it and sidelight binding it."""
    config = os.path.join(workdir, "sidelight.yaml")
    log_path = os.path.join(workdir, "sidelight.log")
    for _ in range(3):
        address = f"127.0.0.1:{free_port()}"
        with open(config, "w") as f:
            f.write(yaml.replace("ADMIN_ADDRESS", address))
        log = open(log_path, "w")
        proc = subprocess.Popen([binary, "run", "--config", config], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10 * SCALE
        while time.monotonic() < deadline:
            with open(log_path) as f:
                text = f.read()
            if f"admin: /healthz /readyz /metrics /api/v1/status on {address}" in text:
                return proc, address, log_path
            if proc.poll() is not None:
                break
            time.sleep(0.05)  # awaiting the log line that says it listens
        else:
            fail("sidelight logged no admin address within 10 s", log_path)
        if "Address already in use" not in text:
            fail(f"sidelight exited with {proc.returncode} before it listened", log_path)
    fail("three free ports were taken before sidelight could bind one", log_path)


OUT_DIR = "."
ROW = 'document.querySelector(`tr.target[data-target="{name}"]`)'


def target_level_document(devtools, logs):
    """The page on a status document with target-level states (running/degraded/down/crash_loop,
    min_instances, instances nested), as /api/v1/status has them once targets have a state of
    their own: the browser answers the page's fetch with it (Fetch domain)."""
    now = time.time_ns()
    doc = {
        "version": "test", "pid": 1, "started_unix_nano": now - 100 * 10**9, "now_unix_nano": now,
        "config": "synthetic",
        "targets": [
            {"target": "api", "kind": "process", "state": "crash_loop", "min_instances": 2, "restarts": 7,
             "instances": [{"instance_id": "a1", "kind": "process", "state": "down", "restarts": 7,
                            "reason": "exited: killed by SIGKILL", "last_change_unix_nano": now - 10**9,
                            "last_change": "down"}]},
            {"target": "web", "kind": "pid", "state": "degraded", "min_instances": 1,
             "instances": [{"instance_id": "w1", "kind": "pid", "state": "degraded", "pid": 10,
                            "uptime_seconds": 50}]},
        ],
        "exporters": [],
        "pipelines": [{"exporter": "otlp", "signal": "logs", "upstream": "failing", "capacity_bytes": 1000,
                       "queued_bytes": 900, "queued_items": 9, "received": 20, "exported": 6,
                       "dropped": {"queue_full": 5}, "in_flight": 0, "requests_failed": 3,
                       "last_error": "<b>boom</b>"}],
        "timeline": {"window_seconds": 3600, "targets": [
            {"target": "api", "state": "crash_loop", "periods": [
                {"state": "running", "start_unix_nano": now - 600 * 10**9, "end_unix_nano": now - 60 * 10**9},
                {"state": "crash_loop", "start_unix_nano": now - 60 * 10**9, "end_unix_nano": now}]}]},
    }
    body = __import__("base64").b64encode(json.dumps(doc).encode()).decode()
    devtools.send("Fetch.enable", {"patterns": [{"urlPattern": "*api/v1/status*"}]})
    handled = set()

    def answer_paused():
        for e in devtools.events:
            if e.get("method") == "Fetch.requestPaused" and e["params"]["requestId"] not in handled:
                handled.add(e["params"]["requestId"])
                devtools.send("Fetch.fulfillRequest", {
                    "requestId": e["params"]["requestId"], "responseCode": 200, "body": body,
                    "responseHeaders": [{"name": "Content-Type", "value": "application/json"}]})

    deadline = time.monotonic() + 10 * SCALE
    expect = ('(() => { const s = n => document.querySelector(`tr.target[data-target="${n}"]`)?.dataset.state;'
              ' return s("api") === "crash_loop" && s("web") === "degraded"; })()')
    while not devtools.eval(expect):
        answer_paused()
        if time.monotonic() > deadline:
            fail("within 10 s, expected the target-level states crash_loop and degraded drawn from a "
                 "target-level status document", *logs)
        time.sleep(0.1)  # awaiting the page's next refresh, answered above
    checks = {
        'document.querySelector(`tr.target[data-target="api"]`).cells[3].textContent': "0 / 2",
        'document.querySelector(`tr.target[data-target="api"]`).cells[6].textContent': "7",
        'document.querySelector(`#queues tr[data-exporter="otlp"]`).cells[2].textContent': "90% of 1000 B",
        'document.querySelector(`#queues tr[data-exporter="otlp"]`).cells[8].textContent': "<b>boom</b>",
        'document.querySelector(`#timeline .track[data-target="api"] .seg[data-state="crash_loop"]`) !== null': True,
    }
    for expression, expected in checks.items():
        got = devtools.eval(expression)
        if got != expected:
            fail(f"target-level document: {expression} is {got!r}, expected {expected!r}", *logs)
    devtools.screenshot(os.path.join(OUT_DIR, "status_page_target_level.png"))
    devtools.send("Fetch.disable")
    answer_paused()


def main():
    global OUT_DIR
    binary, out_dir = sys.argv[1], sys.argv[2]
    OUT_DIR = out_dir
    os.makedirs(out_dir, exist_ok=True)
    chromium = ensure_chromium()
    workdir = tempfile.mkdtemp(prefix="sidelight-page-")
    procs = []
    devtools = None
    try:
        victim = subprocess.Popen(["sleep", "600"])
        survivor = subprocess.Popen(["sleep", "600"])
        procs += [victim, survivor]
        agent, address, agent_log = start_sidelight(binary, workdir, f"""
heartbeat: {{ interval: 60s }}
admin: {{ listen: "ADMIN_ADDRESS" }}
exporters: {{ console: {{}} }}
targets:
  - name: victim
    pid: {victim.pid}
  - name: survivor
    pid: {survivor.pid}
  - name: {json.dumps(HOSTILE)}
    pidfile: {workdir}/nothing.pid
""")
        procs.append(agent)
        chrome_log = os.path.join(workdir, "chromium.log")
        devtools = DevTools(chromium, workdir, open(chrome_log, "w"))
        logs = (agent_log, chrome_log)
        base = f"http://{address}/"
        devtools.open(base)

        victim_row = ROW.format(name="victim")
        await_true(devtools, f'{victim_row} && {victim_row}.dataset.state === "running"',
                   "the victim's row, running", 20, *logs)
        await_true(devtools, f'{ROW.format(name="survivor")}?.dataset.state === "running"',
                   "the survivor's row, running", 5, *logs)
        await_true(devtools, 'document.querySelector(`#timeline .track[data-target="victim"] '
                   '.seg[data-state="running"]`) !== null', "a running period in the victim's timeline", 5, *logs)
        # The hostile name is drawn as text, and nothing it carries ran or became an element.
        names = devtools.eval('[...document.querySelectorAll("tr.target")].map(r => r.cells[0].textContent)')
        if HOSTILE not in names:
            fail(f"the hostile target name is not shown as text: rows {names!r}", *logs)
        if devtools.eval('window.__xss !== undefined || document.querySelector("main img") !== null'):
            fail("the hostile target name was run as HTML", *logs)
        running_colour = devtools.eval(f'getComputedStyle({victim_row}.querySelector(".state")).backgroundColor')
        devtools.screenshot(os.path.join(out_dir, "status_page_before.png"))

        devtools.eval("window.__sameDocument = true")
        refreshes = devtools.eval("window.sidelightStatus.refreshes")
        victim.kill()
        victim.wait()
        await_true(devtools, f'{victim_row}.dataset.state === "down"',
                   "the victim's row to turn down after its process was killed", 10, *logs)
        await_true(devtools, 'document.querySelector(`#timeline .track[data-target="victim"] '
                   '.seg[data-state="down"]`) !== null', "a down period in the victim's timeline", 5, *logs)
        if not devtools.eval("window.__sameDocument === true"):
            fail("the page reloaded: it must refresh from /api/v1/status in place", *logs)
        if devtools.eval("window.sidelightStatus.refreshes") <= refreshes:
            fail("the row changed without a refresh counted", *logs)
        down_colour = devtools.eval(f'getComputedStyle({victim_row}.querySelector(".state")).backgroundColor')
        if down_colour == running_colour:
            fail(f"the state's colour did not change when the row turned down ({down_colour})", *logs)
        if devtools.eval(f'{ROW.format(name="survivor")}.dataset.state') != "running":
            fail("the survivor's row changed with the victim's", *logs)
        devtools.screenshot(os.path.join(out_dir, "status_page_down.png"))

        target_level_document(devtools, logs)

        # Offline: every request the page made went to sidelight's own address.
        urls = [e["params"]["request"]["url"] for e in devtools.events
                if e.get("method") == "Network.requestWillBeSent"]
        foreign = [u for u in urls if not u.startswith(base)]
        if foreign or not any(u.startswith(base + "api/v1/status") for u in urls):
            fail(f"the page must load only from {base}; it asked for {urls}", *logs)
        print(f"ok: the status page showed the kill as down in place ({len(urls)} requests, all to "
              f"sidelight); screenshots in {out_dir}")
    finally:
        if devtools:
            devtools.close()
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
