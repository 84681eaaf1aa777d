#!/usr/bin/env python3
"""The measuring part of `make bench-latency`: ROUNDS uploads of ROWS rows each (check-in and
check-out of as many employees, a day of their own per round) to one company whose sync frequency
is manual, each sent once the company's sender is idle again (the previous round's punches all in
Bayzat and the key's one-second pace passed), so only the hand-over is measured. For each round,
the time from the upload's 201 to the start of the Bayzat request that carries its first punch (the
simulator's received_at of that punch). Prints `p50_ms p99_ms max_ms`.

  latency.py SIM IMPORT_URL TOKEN DIRECTORY_JSON ROUNDS ROWS
"""
import json
import os
import statistics
import sys
import time
import urllib.request
from datetime import date, timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import bridge_http  # noqa: E402
from sync_scale_stats import epoch  # noqa: E402

sim, imports, token, directory_file = sys.argv[1:5]
rounds, rows = int(sys.argv[5]), int(sys.argv[6])
directory = json.load(open(directory_file))
company = directory["companies"][0]
key = company["bayzat"]["api_key"]
department = company["fingerprint_report_names"][0]
employees = [e["employee_id"] for e in directory["employees"] if e["company"] == company["slug"]]
# Each round's rows: every employee on a day of the round's own, over as many days as it takes.
days_per_round = -(-rows // len(employees))


def ledger():
    with urllib.request.urlopen(f"{sim}/__admin/keys/{key}/ledger", timeout=30) as response:
        return json.load(response)


def wait_for(what, timeout_s, check):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            sys.exit(f"bench-latency: {what}: not so after {timeout_s} s")
        time.sleep(0.02)


latencies_ms = []
delivered = 0
for n in range(rounds):
    days = [(date(2025, 1, 1) + timedelta(days=n * days_per_round + d)).isoformat()
            for d in range(days_per_round)]
    cells = [(day, emp) for day in days for emp in employees][:rows]
    report = "Employee ID,First Name,Department,Date,Check In,Check Out\n" + "".join(
        f"{emp},Employee {emp},{department},{day},08:{i % 60:02d},17:{i % 60:02d}\n"
        for i, (day, emp) in enumerate(cells))
    # The sender is idle: the last request's second has passed.
    entries = ledger()
    if entries:
        last = max(epoch(e["received_at"]) for e in entries)
        time.sleep(max(0.0, last + 1.1 - time.time()))
    request = urllib.request.Request(
        f"{imports}/v1/imports", data=report.encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    with bridge_http.urlopen(request, timeout=60) as response:
        if response.status != 201:
            sys.exit(f"bench-latency: the upload answered {response.status}")
        response.read()
    answered = time.time()
    delivered += 2 * rows

    def first_punch():
        entries = ledger()
        if len(entries) < delivered:
            return None
        return min(epoch(e["received_at"]) for e in entries if e["time"][:10] in days)

    first = wait_for(f"round {n + 1}'s punches in Bayzat", 120, first_punch)
    latencies_ms.append((first - answered) * 1000)

latencies_ms.sort()
p99 = latencies_ms[min(len(latencies_ms) - 1, round(0.99 * (len(latencies_ms) - 1)))]
print(f"{statistics.median(latencies_ms):.0f} {p99:.0f} {latencies_ms[-1]:.0f}")
