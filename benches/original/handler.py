"""The approach lookout replaces, for `make bench` to measure side by side: a Python Lambda handler
that checks a site list and a chinaz-style speed test one request at a time with urllib (a 2.5 s
socket timeout), and reads each node's `alltime`, `conntime` and `downtime` with regular
expressions, as the original scripts did. It is run by `awslambdaric` (AWS's runtime interface
client for Python) under the same Runtime API emulator as lookout's bootstrap.

Its settings come from the environment as the bench sets them: SITE_URLS (comma-separated),
SPEEDTEST_BASE_URL and SPEEDTEST_TARGET. `sites` and `speed` are the two handlers.
"""

import os
import re
import urllib.parse
import urllib.request

TIMEOUT = 2.5

ENKEY = re.compile(r'id="enkey" value="([^"]*)"')
NODE = re.compile(r'<div id="([0-9a-f-]{36})" class="row listw')
ALLTIME = re.compile(r"alltime:'([^']*)'")
CONNTIME = re.compile(r"conntime:'([^']*)'")
DOWNTIME = re.compile(r"downtime:'([^']*)'")


def fetch(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        return answer.status, answer.read().decode("utf-8", "replace")


def sites(event, context):
    down = []
    for url in filter(None, os.environ.get("SITE_URLS", "").split(",")):
        try:
            status, _ = fetch(url)
            if status >= 400:
                down.append(url)
        except Exception:  # the scripts counted any error as down
            down.append(url)
    return {"checked": len(os.environ.get("SITE_URLS", "").split(",")), "down": down}


def speed(event, context):
    base = os.environ["SPEEDTEST_BASE_URL"]
    target = os.environ["SPEEDTEST_TARGET"]
    page_url = f"{base}/speedtest/{target}"
    _, page = fetch(page_url)
    token = ENKEY.search(page).group(1)
    slow, results = [], []
    for guid in NODE.findall(page):
        form = urllib.parse.urlencode(
            {
                "guid": guid,
                "host": target,
                "ishost": "1",
                "isipv6": "0",
                "encode": token,
                "checktype": "1",
            }
        ).encode()
        headers = {"Referer": page_url, "X-Requested-With": "XMLHttpRequest"}
        try:
            _, reply = fetch(f"{base}/iframe.ashx?t=ping", data=form, headers=headers)
        except Exception:
            slow.append(guid)
            continue
        found = [p.search(reply) for p in (ALLTIME, CONNTIME, DOWNTIME)]
        if not all(found):
            slow.append(guid)
            continue
        alltime, conntime, downtime = (m.group(1) for m in found)
        results.append((guid, alltime, conntime, downtime))
        if alltime.isdigit() and int(alltime) > 1000:
            slow.append(guid)
    return {"nodes": len(results), "slow": slow}
