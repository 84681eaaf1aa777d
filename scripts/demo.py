#!/usr/bin/env python3
"""The part of `make demo` that talks to the running services: uploads a report as an operator,
shows delivery progress until nothing is on its way any more, and prints per company what was
delivered, rejected (with Bayzat's reason), held, and left for a scheduled run, with the URLs to
look at. Only the standard library, so a fresh machine runs it as it is. Calls to the services
wait out their rate limit (bridge_http)."""
import argparse
import json
import sys
import time
import urllib.parse
import urllib.request

import bridge_http

IN_FLIGHT = ("queued", "pending", "sending", "retry_wait")
SETTLE_TIMEOUT_S = 180


def call(url, token, method="GET", data=None, content_type=None):
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    with bridge_http.urlopen(request) as response:
        return json.load(response)


def bar(done, total, width=30):
    filled = width * done // total if total else width
    return "#" * filled + "-" * (width - filled)


def main():
    p = argparse.ArgumentParser()
    for name in ("file", "directory", "token", "config", "imports", "sync", "sim"):
        p.add_argument(f"--{name}", required=True)
    a = p.parse_args()

    filename = a.file.rsplit("/", 1)[-1]
    with open(a.file, "rb") as f:
        body = f.read()
    print(f"\ndemo: uploading {filename} as an operator")
    upload = call(f"{a.imports}/v1/imports?filename={urllib.parse.quote(filename)}", a.token,
                  "POST", body, "text/csv")
    import_id = upload["id"]
    print(f"  import {import_id}: {upload['total_records']} rows, {upload['successful_records']} valid, "
          f"{upload['failed_records']} invalid, {upload['skipped_records']} skipped; "
          f"{upload['punches_new']} punches queued")
    for d in upload["unmapped_departments"]:
        print(f"  unmapped department: {d['name']!r} ({d['rows']} row(s)); map it to a company, then reprocess")
    for e in upload["unknown_employees"]:
        print(f"  unknown employee id: {e['employee_id']} ({e['rows']} row(s))")

    print("\ndemo: delivering to Bayzat (bayzat-sim), one request a second per company")
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last_shown = None
    while True:
        progress = call(f"{a.imports}/v1/imports/{import_id}", a.token)["progress"]
        totals = {}
        for states in progress.values():
            for state, n in states.items():
                totals[state] = totals.get(state, 0) + n
        total = sum(totals.values())
        moving = sum(totals.get(s, 0) for s in IN_FLIGHT)
        settled = total - moving
        line = "  ".join(f"{s} {n}" for s, n in sorted(totals.items()))
        shown = f"  [{bar(settled, total)}] {settled}/{total} settled  ({line})"
        if shown != last_shown:
            sys.stdout.write(f"\r{shown}\033[K")
            sys.stdout.flush()
            last_shown = shown
        if total and moving == 0:
            break
        if time.monotonic() > deadline:
            print(f"\n  still on its way after {SETTLE_TIMEOUT_S} s; see GET {a.sync}/v1/deliveries?import_id={import_id}")
            break
        time.sleep(0.5)
    print()

    with open(a.directory) as f:
        keys = {c["slug"]: c["bayzat"]["api_key"] for c in json.load(f)["companies"]}
    print("\ndemo: per company")
    for slug in sorted(progress):
        states = progress[slug]
        health = call(f"{a.sync}/v1/companies/{slug}/sync-health", a.token)
        print(f"  {slug} (sync {health['state']}):")
        print(f"    delivered: {states.get('delivered', 0)}")
        if states.get("rejected"):
            rejected = call(f"{a.sync}/v1/deliveries?company={slug}&state=rejected&import_id={import_id}",
                            a.token)["items"]
            print(f"    rejected:  {states['rejected']}")
            for d in rejected:
                print(f"      - empId {d['emp_id']} {d['type']} {d['local_time'].replace('T', ' ')}: {d['last_error']}")
        if states.get("held"):
            print(f"    held:      {states['held']} (the company's Bayzat sync is disabled; enabling it sends them)")
        if states.get("scheduled"):
            waiting = call(f"{a.sync}/v1/deliveries?company={slug}&state=scheduled&import_id={import_id}",
                           a.token)["items"]
            at = min(d["next_attempt_at"] for d in waiting) if waiting else "the next run"
            print(f"    waiting for its scheduled run: {states['scheduled']} (at {at}; "
                  f"POST {a.sync}/v1/companies/{slug}/sync-now sends them now)")
        for state in sorted(set(states) - {"delivered", "rejected", "held", "scheduled"}):
            print(f"    {state}: {states[state]}")
        if slug in keys:
            ledger_url = f"{a.sim}/__admin/keys/{keys[slug]}/ledger"
            with urllib.request.urlopen(ledger_url) as response:
                held_by_bayzat = len(json.load(response))
            print(f"    in the simulator's ledger: {held_by_bayzat} punch(es)  ({ledger_url})")

    print("\ndemo: where to look (send 'Authorization: Bearer $TOKEN' to the REST APIs)")
    print(f"  import:        {a.imports}/v1/imports/{import_id}   rows: {a.imports}/v1/imports/{import_id}/rows")
    print(f"  deliveries:    {a.sync}/v1/deliveries?import_id={import_id}   batches: {a.sync}/v1/batches")
    print(f"  companies:     {a.config}/v1/companies")
    print(f"  metrics:       {a.config}/metrics  {a.imports}/metrics  {a.sync}/metrics")
    print(f"  simulator:     {a.sim}/__admin/stats")
    if bridge_http.WAITS.times:
        print(f"demo: the services' API {bridge_http.WAITS}")


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as error:
        sys.exit(f"demo: {error.url} answered {error.code}: {error.read().decode(errors='replace')[:500]}")
    except bridge_http.RateLimited as error:
        sys.exit(f"demo: {error}")
