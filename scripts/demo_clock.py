#!/usr/bin/env python3
"""The clock part of `make demo`: a simulated ZKTeco terminal (clock-sim, started by demo.sh) has
been pointed at import-service's clock listener. Waits until the terminal calls and shows up
pending, assigns it to a company and approves it as an admin (its punches so far were held; the
approval releases them), then prints each of its punches as it reaches Bayzat (bayzat-sim's
ledger) until all of them did. Only the standard library."""
import argparse
import json
import os
import sys
import time
import urllib.request

import bridge_http

TIMEOUT_S = 120


def call(url, token, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with bridge_http.urlopen(request, timeout=30) as response:
        return json.load(response)


def ledger(sim, key):
    with urllib.request.urlopen(f"{sim}/__admin/keys/{key}/ledger", timeout=30) as response:
        return json.load(response)


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def main():
    p = argparse.ArgumentParser()
    for name in ("imports", "token", "sim", "serial", "company", "time-zone", "directory", "csv", "listener"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--pid", type=int, required=True, help="clock-sim's process")
    a = p.parse_args()
    with open(a.directory) as f:
        a.key = next(c["bayzat"]["api_key"] for c in json.load(f)["companies"] if c["slug"] == a.company)
    already = len(ledger(a.sim, a.key))
    deadline = time.monotonic() + TIMEOUT_S

    print(f"\ndemo: a ZKTeco terminal {a.serial} (clock-sim) pushes to the clock listener {a.listener}")
    while True:
        clocks = call(f"{a.imports}/v1/clocks", a.token)["items"]
        clock = next((c for c in clocks if c["serial_number"] == a.serial), None)
        if clock:
            break
        if time.monotonic() > deadline:
            sys.exit(f"demo: {a.serial} never called; see the clock-sim log")
        time.sleep(0.2)
    print(f"  clock {clock['id']} {a.serial} called: {clock['state']} (its punches are held until an admin approves it)")
    call(f"{a.imports}/v1/clocks/{clock['id']}", a.token, "PATCH",
         {"companies": [a.company], "time_zone": a.time_zone})
    approved = call(f"{a.imports}/v1/clocks/{clock['id']}/approve", a.token, "POST")
    held = sum(q.get("punches", 0) for q in approved.get("queued", []) if isinstance(q, dict))
    print(f"  assigned to {a.company} and approved as an admin (PATCH, then POST {a.imports}/v1/clocks/{clock['id']}/approve)"
          + (f"; {held} held punch(es) released" if held else ""))

    print(f"\ndemo: its punches reaching Bayzat (bayzat-sim, key of {a.company})")
    shown = 0
    while True:
        new = ledger(a.sim, a.key)[already:]
        for entry in new[shown:]:
            at = entry["received_at"][11:23]
            print(f"  {at} UTC  empId {entry['empId']:<6} {entry['type']:<8} {entry['time']}")
        shown = len(new)
        # clock-sim writes its CSV of punches when it is done; then the count is known.
        if not alive(a.pid) and os.path.exists(a.csv):
            with open(a.csv) as f:
                made = max(0, sum(1 for _ in f) - 1)
            if shown >= made:
                print(f"  all {made} punches of the terminal are in Bayzat")
                break
        if time.monotonic() > deadline:
            print(f"  still on their way after {TIMEOUT_S} s; see GET {a.imports}/v1/clocks/{clock['id']}/punches")
            break
        time.sleep(0.2)
    print(f"  the clock's rows: {a.imports}/v1/clocks/{clock['id']}/punches   the clocks: {a.imports}/v1/clocks")


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as error:
        sys.exit(f"demo: {error.url} answered {error.code}: {error.read().decode(errors='replace')[:500]}")
    except bridge_http.RateLimited as error:
        sys.exit(f"demo: {error}")
