#!/usr/bin/env python3
"""The measuring part of `make bench-clocks`: joins clock-sim's CSV of every punch it made with
bayzat-sim's ledgers, matching a punch by employee and time (clock-sim never gives a PIN two
punches in one second, so the pair names one punch).

  clocks.py wait SIM_URL PUNCHES_CSV TIMEOUT_S
      waits up to TIMEOUT_S until every punch of the CSV is in a bench key's ledger (telling the
      progress every 10 s)
  clocks.py figures SIM_URL PUNCHES_CSV DELIVERIES_CSV
      prints `delivered lost doubled p50_ms p99_ms max_ms`:
- delivered: punches of the CSV in a ledger; lost: the others;
- doubled: punches that reached Bayzat more than once (twice in a ledger, or sent again and
  refused as a duplicate of one it holds);
- latency: from the start of the clock's POST that the bridge acknowledged for the punch (the
  first that reached it; an offline clock's attempts that never left it do not count) to the
  start of the Bayzat request that carried it (the ledger's received_at).
On stderr, where the time goes: the POST's answer (the bridge storing it) and the hand-over from
that answer to Bayzat, the offline clock's punches from the moment they were made, and the Bayzat
requests (entries of a key with one received_at are one request): how many, how full, how far
apart; and from DELIVERIES_CSV (sync-service's deliveries: emp_id, local time, created_at in epoch
ms), the hand-over split at the moment the punch's delivery reached sync-service.
"""
import csv
import json
import os
import statistics
import sys
import time
import urllib.request
from collections import Counter

from sync_scale_stats import epoch
import sync_stats
from sync_stats import bench_keys

STATES = {"0": "checkIn", "1": "checkOut"}


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def ledgers(sim, requests=None):
    """(empId, time) -> the received_at (epoch ms) of each ledger entry, and the resends; with
    `requests`, also key -> Counter of received_at (records per request)."""
    held, resent = {}, Counter()
    for key in bench_keys(sim):
        for entry in get(f"{sim}/__admin/keys/{key}/ledger"):
            held.setdefault((entry["empId"], entry["time"]), []).append(
                (epoch(entry["received_at"]) * 1000, entry["type"]))
            if requests is not None:
                requests.setdefault(key, Counter())[entry["received_at"]] += 1
        for entry in get(f"{sim}/__admin/keys/{key}/duplicates"):
            resent[(entry["empId"], entry["time"])] += 1
    return held, resent


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def spread(name, values):
    if not values:
        return f"{name}: none"
    values = sorted(values)
    return (f"{name}: p50 {statistics.median(values):.0f} ms, p99 {percentile(values, 0.99):.0f} ms, "
            f"max {values[-1]:.0f} ms ({len(values)})")


def read_punches(punches_csv):
    with open(punches_csv) as f:
        punches = list(csv.DictReader(f))
    sent = {(p["pin"], p["punch_time"]): p for p in punches}
    return punches, sent


def wait(sim, punches_csv, timeout_s):
    """Waits until Bayzat accepted as many records as the clocks punched, polling the
    simulator's counters (reading every ledger as often would load the simulator while the last
    punches are on their way, and delay them), then checks the ledgers once."""
    punches, sent = read_punches(punches_csv)
    if len(sent) != len(punches):
        print(f"bench-clocks: {len(punches) - len(sent)} punches share an employee and a time with another",
              file=sys.stderr)
    sync_stats.wait(sim, len(sent), timeout_s, "bench-clocks")
    held, _ = ledgers(sim)
    arrived = sum(1 for k in sent if k in held)
    if arrived < len(sent):
        print(f"bench-clocks: {len(sent) - arrived} punches not in Bayzat after {timeout_s:.0f} s",
              file=sys.stderr)


def figures(sim, punches_csv, deliveries_csv):
    punches, sent = read_punches(punches_csv)
    requests = {}
    held, resent = ledgers(sim, requests)

    delivered = doubled = wrong_type = 0
    latencies, answers, handovers, offline = [], [], [], []
    offline_serial = punches[0]["serial"][:-5] + "00001" if punches else ""
    for k, p in sent.items():
        entries = held.get(k)
        if not entries:
            continue
        delivered += 1
        if len(entries) > 1 or resent[k]:
            doubled += 1
        started, kind = min(entries)
        if kind != STATES.get(p["state"], kind):
            wrong_type += 1
        post, acked = float(p["acked_post_ms"] or 0), float(p["acked_at_ms"] or 0)
        if post:
            latencies.append(started - post)
            answers.append(acked - post)
            handovers.append(started - acked)
        if p["serial"] == offline_serial:
            offline.append(started - float(p["punched_at_ms"]))
    foreign = sum(len(v) for k, v in held.items() if k not in sent)
    print(spread("bench-clocks:   the clock's POST to its OK (the bridge storing it)", answers), file=sys.stderr)
    print(spread("bench-clocks:   the OK to the start of the Bayzat request", handovers), file=sys.stderr)
    print(spread(f"bench-clocks:   {offline_serial} (offline a while), punched to the Bayzat request", offline),
          file=sys.stderr)
    sizes, gaps = [], []
    for per_request in requests.values():
        sizes.extend(per_request.values())
        starts = sorted(epoch(at) * 1000 for at in per_request)
        gaps.extend(b - a for a, b in zip(starts, starts[1:]))
    if sizes:
        print(f"bench-clocks:   Bayzat requests: {len(sizes)}, records a request: mean "
              f"{statistics.mean(sizes):.1f}, {sum(1 for n in sizes if n >= 20)} full", file=sys.stderr)
        print(spread("bench-clocks:   gap between a key's requests", gaps), file=sys.stderr)
    arrived_at = {}
    with open(deliveries_csv) as f:
        for emp, at, created in csv.reader(f):
            arrived_at[(emp, at)] = float(created)
    to_sync, in_sync = [], []
    for k, p in sent.items():
        if k in arrived_at and k in held and p["acked_at_ms"]:
            to_sync.append(arrived_at[k] - float(p["acked_at_ms"]))
            in_sync.append(min(held[k])[0] - arrived_at[k])
    # Every punch's way, beside the punches (KEEP_WORK=1 keeps it), for a look at the slowest.
    with open(os.path.join(os.path.dirname(punches_csv), "latencies.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["serial", "pin", "punch_time", "acked_post_ms", "acked_at_ms", "in_sync_ms",
                      "bayzat_request_ms"])
        for k, p in sent.items():
            if k in held:
                out.writerow([p["serial"], p["pin"], p["punch_time"], p["acked_post_ms"], p["acked_at_ms"],
                              arrived_at.get(k, ""), f"{min(held[k])[0]:.0f}"])
    print(spread("bench-clocks:   the OK to its delivery in sync-service (outbox, RabbitMQ, intake)", to_sync),
          file=sys.stderr)
    print(spread("bench-clocks:   its delivery in sync-service to the Bayzat request", in_sync), file=sys.stderr)
    if wrong_type or foreign:
        print(f"bench-clocks: {wrong_type} delivered with another type, {foreign} ledger entries no clock punched",
              file=sys.stderr)
    latencies.sort()
    if not latencies:
        latencies = [0]
    print(delivered, len(sent) - delivered, doubled, f"{statistics.median(latencies):.0f}",
          f"{percentile(latencies, 0.99):.0f}", f"{latencies[-1]:.0f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "wait":
        wait(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "figures":
        figures(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
