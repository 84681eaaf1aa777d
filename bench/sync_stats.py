#!/usr/bin/env python3
"""Helpers of `make bench-sync` against bayzat-sim's admin API.

  sync_stats.py wait SIM_URL TOTAL TIMEOUT_S   waits until the bench keys accepted TOTAL records
  sync_stats.py figures SIM_URL                prints: http_429 max_records min_gap_ms
  sync_stats.py baseline SIM_URL PUNCHES_JSON  the original job: company after company, 20 records a
                                               request, sleeping 1 s after each response
"""
import json
import sys
import time
import urllib.error
import urllib.request


def bench_keys(sim):
    with urllib.request.urlopen(f"{sim}/__admin/stats") as response:
        keys = json.load(response)["keys"]
    return {k: v for k, v in keys.items() if k.startswith("bz_bench_")}


def wait(sim, total, timeout, bench="bench-sync"):
    """Waits until the bench keys accepted `total` records, telling the progress every 10 s."""
    deadline = time.monotonic() + timeout
    last_print = 0.0
    while time.monotonic() < deadline:
        keys = bench_keys(sim)
        accepted = sum(k["accepted_records"] for k in keys.values())
        if time.monotonic() - last_print > 10:
            started = sum(1 for k in keys.values() if k["requests"] > 0)
            print(f"{bench}:   {accepted}/{total} delivered, {started}/{len(keys)} keys started",
                  file=sys.stderr)
            last_print = time.monotonic()
        if accepted >= total:
            return 0
        time.sleep(0.05)
    print(f"{bench}: not all delivered within {timeout} s", file=sys.stderr)
    return 1


def figures(sim):
    keys = bench_keys(sim).values()
    rate_limited = sum(k["rate_limited"] for k in keys)
    largest = max(k["largest_request"] for k in keys)
    gaps = [k["min_gap_ms"] for k in keys if k["min_gap_ms"] is not None]
    print(rate_limited, largest, min(gaps) if gaps else 0)
    return 0


def baseline(sim, punches_file):
    with open(punches_file) as f:
        per_key = json.load(f)
    for key, records in per_key.items():
        for i in range(0, len(records), 20):
            body = json.dumps({"records": records[i:i + 20]}).encode()
            request = urllib.request.Request(f"{sim}/attendance", data=body, method="POST", headers={
                "x-api-key": key, "Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request).read()
            except urllib.error.HTTPError as error:
                print(f"bench-sync: baseline request answered {error.code}", file=sys.stderr)
                return 1
            time.sleep(1)
    return 0


if __name__ == "__main__":
    command, sim = sys.argv[1], sys.argv[2]
    if command == "wait":
        sys.exit(wait(sim, int(sys.argv[3]), float(sys.argv[4])))
    if command == "figures":
        sys.exit(figures(sim))
    if command == "baseline":
        sys.exit(baseline(sim, sys.argv[3]))
    sys.exit(__doc__)
