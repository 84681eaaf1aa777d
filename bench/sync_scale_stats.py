#!/usr/bin/env python3
"""Helpers of `make bench-sync-scale` against bayzat-sim's admin API and import-service's API.

  sync_scale_stats.py wait SIM_URL TOTAL TIMEOUT_S
      waits until the bench keys accepted TOTAL records
  sync_scale_stats.py starts SIM_URL START_EPOCH
      from every bench key's ledger: prints `first_min first_median first_max last_answer_epoch
      active_keys gap_median_ms gap_max_ms last_first last_gap_ms`, the first accepted record of
      each key in seconds after START_EPOCH, the epoch of the last one, the average time between
      a key's requests (the median over keys and the largest), and for the key whose last request
      came last, its first request (seconds after START_EPOCH) and its average time between
      requests
  sync_scale_stats.py lag IMPORT_URL TOKEN IMPORT_ID TOTAL SINCE_EPOCH TIMEOUT_S
      polls the import until all TOTAL punches show `delivered`; prints the seconds since
      SINCE_EPOCH at which they first did
  sync_scale_stats.py proc PID...
      prints `cpu_s peak_rss_mb`: the processes' user+system CPU summed, the largest peak RSS
"""
import json
import os
import statistics
import sys
import time
import urllib.request
from datetime import datetime

from sync_stats import bench_keys, wait


def get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def epoch(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def starts(sim, start):
    firsts, last, gaps = [], 0.0, []
    last_key = (0.0, 0.0)  # the key finishing last: its first request, its average gap
    for key in bench_keys(sim):
        ledger = get(f"{sim}/__admin/keys/{key}/ledger")
        if isinstance(ledger, dict):
            ledger = ledger.get("entries") or ledger.get("ledger") or []
        times = sorted({epoch(entry["received_at"]) for entry in ledger})
        gap = (times[-1] - times[0]) / (len(times) - 1) * 1000 if len(times) > 1 else 0.0
        if times:
            firsts.append(times[0] - start)
            if times[-1] > last:
                last, last_key = times[-1], (times[0] - start, gap)
        if len(times) > 1:
            gaps.append(gap)
    if not firsts:
        print("0 0 0 0 0 0 0 0 0")
        return 0
    gap_median = statistics.median(gaps) if gaps else 0
    gap_max = max(gaps) if gaps else 0
    print(f"{min(firsts):.1f} {statistics.median(firsts):.1f} {max(firsts):.1f} {last:.3f} {len(firsts)} "
          f"{gap_median:.0f} {gap_max:.0f} {last_key[0]:.1f} {last_key[1]:.0f}")
    return 0


def lag(import_url, token, import_id, total, since, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = get(f"{import_url}/v1/imports/{import_id}", token)
        delivered = sum(states.get("delivered", 0) for states in view.get("progress", {}).values())
        if delivered >= total:
            print(f"{max(0.0, time.time() - since):.2f}")
            return 0
        time.sleep(0.05)
    print(f"bench-sync-scale: the import did not show every punch delivered within {timeout} s",
          file=sys.stderr)
    print("nan")
    return 0


def proc(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, peak = 0.0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / ticks
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    print(f"{cpu:.1f} {peak // 1024}")
    return 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "wait":
        sys.exit(wait(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), bench="bench-sync-scale"))
    if command == "starts":
        sys.exit(starts(sys.argv[2], float(sys.argv[3])))
    if command == "lag":
        sys.exit(lag(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]),
                     float(sys.argv[7])))
    if command == "proc":
        sys.exit(proc(sys.argv[2:]))
    sys.exit(__doc__)
