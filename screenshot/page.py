#!/usr/bin/env python3
"""Drives the chat page in headless Chromium for the README's screenshots,
through chromedriver's WebDriver API (Python's standard library only).

    page.py open  PAGE_URL            prints the new session's id
    page.py say   SESSION TEXT        types TEXT into the page and sends it
    page.py wait  SESSION TEXT        waits (10 s at most) for a log line with TEXT
    page.py shoot SESSION FILE W H    a W x H PNG of the page
    page.py close SESSION

WEBDRIVER is chromedriver's URL (http://127.0.0.1:PORT); CHROMIUM_PROFILE a
fresh directory for the browser's profile.
"""

import base64
import json
import os
import sys
import time
import urllib.request

DRIVER = os.environ["WEBDRIVER"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        DRIVER + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["value"]


def find(session, selector):
    found = call("POST", f"/session/{session}/element", {"using": "css selector", "value": selector})
    return found[ELEMENT]


def run(session, script, *args):
    return call("POST", f"/session/{session}/execute/sync", {"script": script, "args": list(args)})


def open_page(url):
    options = {
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={os.environ['CHROMIUM_PROFILE']}",
        ],
    }
    capabilities = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
    session = call("POST", "/session", capabilities)["sessionId"]
    call("POST", f"/session/{session}/url", {"url": url})
    print(session)


def say(session, text):
    box = find(session, "#text")
    call("POST", f"/session/{session}/element/{box}/value", {"text": text})
    button = find(session, "#say button")
    call("POST", f"/session/{session}/element/{button}/click", {})


def wait(session, text):
    script = "return Array.from(document.querySelectorAll('#log li')).some((li) => li.textContent.includes(arguments[0]));"
    for _ in range(100):
        if run(session, script, text):
            return
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {text!r} in the page")


def shoot(session, path, width, height):
    call("POST", f"/session/{session}/window/rect", {"width": int(width), "height": int(height)})
    # Let the layout settle at the new size before the picture.
    run(session, "const log = document.getElementById('log'); log.scrollTop = log.scrollHeight;")
    time.sleep(0.3)
    png = call("GET", f"/session/{session}/screenshot")
    with open(path, "wb") as out:
        out.write(base64.b64decode(png))


def close(session):
    call("DELETE", f"/session/{session}")


COMMANDS = {"open": open_page, "say": say, "wait": wait, "shoot": shoot, "close": close}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
