#!/usr/bin/env python3
"""Open a review page in headless Chromium and report what the browser made
of it, for test_review.c.

usage: review_browser.py PAGE.html SCREENSHOT.png

Talks the DevTools protocol over --remote-debugging-pipe (descriptors 3 and
4, messages ended by a NUL byte); the page's own Content-Security-Policy
does not apply to what the protocol evaluates.  Prints one JSON object:
the title, the number of <script> elements and of elements with an event
handler attribute, the tiles, the naturalWidth of every image once loaded,
and the page's text.  Writes a screenshot of the page's top.  Exits 1 with
a message on stderr when Chromium does not answer within the deadline.
"""
import base64
import json
import os
import select
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 60

REPORT = """JSON.stringify({
  title: document.title,
  scripts: document.scripts.length,
  handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
  tiles: document.querySelectorAll('figure.tile').length,
  images: Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1),
  text: document.body.textContent,
})"""


class Browser:
    def __init__(self, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # The protocol's pipe is descriptors 3 and 4 of chromium.
        self.proc = subprocess.Popen(
            ['sh', '-c', 'exec chromium "$@" 3<&%d 4>&%d' % (to_browser_r, from_browser_w),
             'chromium', '--headless', '--no-sandbox', '--disable-gpu',
             '--remote-debugging-pipe', '--user-data-dir=' + profile,
             '--window-size=1280,900', '--no-first-run', 'about:blank'],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.buffer = b''
        self.deadline = time.monotonic() + DEADLINE_S

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {'id': self.next_id, 'method': method, 'params': params}
        if session:
            message['sessionId'] = session
        os.write(self.to_browser, json.dumps(message).encode() + b'\0')
        while True:
            while b'\0' not in self.buffer:
                left = self.deadline - time.monotonic()
                if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                    raise TimeoutError('chromium did not answer ' + method)
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise EOFError('chromium closed the pipe at ' + method)
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b'\0', 1)
            answer = json.loads(line)
            if answer.get('id') == self.next_id:
                if 'error' in answer:
                    raise RuntimeError(method + ': ' + json.dumps(answer['error']))
                return answer['result']

    def evaluate(self, session, expression):
        result = self.call('Runtime.evaluate', session, expression=expression,
                           returnByValue=True, awaitPromise=True)
        return result['result'].get('value')

    def close(self):
        try:
            self.call('Browser.close')
        except (TimeoutError, EOFError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    page, screenshot = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(profile)
        try:
            target = browser.call('Target.createTarget', url='file://' + os.path.abspath(page))
            session = browser.call('Target.attachToTarget', targetId=target['targetId'],
                                   flatten=True)['sessionId']
            # The new target shows about:blank first: wait for the page itself.
            while not browser.evaluate(session, "location.protocol == 'file:' && "
                                       "document.readyState == 'complete'"):
                time.sleep(0.05)
            # Every image decoded (or failed) before it is counted.
            browser.evaluate(session, 'Promise.all(Array.from(document.images).map('
                             'i => i.decode().catch(() => null)))')
            report = json.loads(browser.evaluate(session, REPORT))
            shot = browser.call('Page.captureScreenshot', session, format='png')
            with open(screenshot, 'wb') as f:
                f.write(base64.b64decode(shot['data']))
        except (TimeoutError, EOFError, RuntimeError, OSError) as error:
            print('review_browser: ' + str(error), file=sys.stderr)
            return 1
        finally:
            browser.close()
    print(json.dumps(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
