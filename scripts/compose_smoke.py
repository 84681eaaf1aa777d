#!/usr/bin/env python3
"""The checks of `make compose-smoke` (scripts/compose-smoke.sh starts the stack first): talks to
the compose stack through its published ports, as the IT portal and an operator would, and to the
Bayzat simulator's admin API to see what Bayzat received. One line per step; exits non-zero at
the first check that fails. Only the standard library; calls wait out the services' rate limit
(bridge_http)."""
import argparse
import collections
import csv
import datetime
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import bridge_http

IN_FLIGHT = ("queued", "pending", "sending", "retry_wait")
BRIDGE_JOBS = ("config-service", "import-service", "sync-service", "console")


class SmokeFailure(Exception):
    pass


def http(method, url, token=None, body=None, content_type=None, timeout=30):
    """(status, body as JSON when it is JSON, else text)."""
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with bridge_http.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except bridge_http.RateLimited as error:
        raise SmokeFailure(str(error)) from error
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def get_ok(url, token=None):
    status, body = http("GET", url, token)
    if status != 200:
        raise SmokeFailure(f"GET {url} answered {status}: {str(body)[:300]}")
    return body


def wait_until(what, timeout_s, check, interval_s=0.5):
    """Calls check() until it returns something other than None (its value is returned); the
    last exception or value explains a time-out."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            result = check()
            if result is not None:
                return result
        except (OSError, SmokeFailure) as error:
            last = error
        if time.monotonic() > deadline:
            raise SmokeFailure(f"{what}: not within {timeout_s} s (last: {last})")
        time.sleep(interval_s)


class Smoke:
    def __init__(self, a):
        self.a = a
        self.compose_cmd = shlex.split(a.compose)
        self.step_started = a.step_started
        with open(os.path.join(a.fixtures, "directory.json")) as f:
            self.directory = json.load(f)
        self.companies = {c["slug"]: c for c in self.directory["companies"]}
        self.key_of = {slug: c["bayzat"]["api_key"] for slug, c in self.companies.items()}
        self.known = {key: set(ids) for key, ids in self.directory["bayzat_simulator"].items()}
        # What each key's ledger must hold: (empId, type, time) -> times received.
        self.expected = {key: collections.Counter() for key in self.key_of.values()}
        self.token = None

    # --- plumbing ---------------------------------------------------------------------------

    def step(self, message):
        now = time.time()
        print(f"compose-smoke: {message} ({now - self.step_started:.0f} s)", flush=True)
        self.step_started = now

    def compose(self, *args, timeout=600):
        run = subprocess.run(self.compose_cmd + list(args), capture_output=True, text=True,
                             timeout=timeout)
        if run.returncode != 0:
            raise SmokeFailure(f"{' '.join(args)} failed:\n{run.stdout}{run.stderr}")
        return run.stdout

    def sync_urls(self):
        """The published address of every sync-service replica."""
        replicas = len([line for line in self.compose("ps", "-q", "sync-service").split() if line])
        urls = []
        for index in range(1, replicas + 1):
            address = self.compose("port", "--index", str(index), "sync-service", "8083").strip()
            urls.append(f"http://127.0.0.1:{address.rsplit(':', 1)[1]}")
        return urls

    def bin(self, name):
        return os.path.join(self.a.bin, name)

    def ledger(self, key):
        entries = get_ok(f"{self.a.sim}/__admin/keys/{key}/ledger")
        return collections.Counter((e["empId"], e["type"], e["time"]) for e in entries)

    def stats(self):
        return get_ok(f"{self.a.sim}/__admin/stats")["keys"]

    def upload(self, name, content):
        url = f"{self.a.imports}/v1/imports?filename={urllib.parse.quote(name)}"
        status, body = http("POST", url, self.token, content, "text/csv", timeout=120)
        if status != 201:
            raise SmokeFailure(f"upload of {name} answered {status}: {str(body)[:500]}")
        return body

    def progress(self, import_id):
        return get_ok(f"{self.a.imports}/v1/imports/{import_id}", self.token)["progress"]

    def settled(self, import_id, punches, timeout_s):
        """The import's progress once none of its punches is on its way."""
        def check():
            progress = self.progress(import_id)
            counts = collections.Counter()
            for states in progress.values():
                counts.update(states)
            if sum(counts.values()) == punches and not any(counts[s] for s in IN_FLIGHT):
                return progress
            raise SmokeFailure(f"progress {progress}")
        return wait_until(f"import {import_id} settling", timeout_s, check)

    def check_ledgers(self, what):
        """Every key's ledger holds exactly the expected punches: none missing, none twice."""
        for key, expected in self.expected.items():
            held = self.ledger(key)
            missing = expected - held
            extra = held - expected
            if missing or extra:
                raise SmokeFailure(
                    f"{what}: the ledger of {key} differs from the expected punches: "
                    f"{sum(missing.values())} missing (e.g. {list(missing)[:3]}), "
                    f"{sum(extra.values())} extra or doubled (e.g. {list(extra)[:3]})")
        return sum(sum(c.values()) for c in self.expected.values())

    def check_pace(self, what):
        """Bayzat's limits held: no 429, no request over 20 records, no record sent twice."""
        for key, s in self.stats().items():
            problems = []
            if s["rate_limited"] or s.get("injected_429"):
                problems.append(f"{s['rate_limited']} answered 429")
            if s["largest_request"] > 20 or s["bad_requests_by_reason"].get("too_many_records"):
                problems.append(f"a request of {s['largest_request']} records")
            if s.get("duplicate_records"):
                problems.append(f"{s['duplicate_records']} records sent again")
            if problems:
                raise SmokeFailure(f"{what}: Bayzat key {key}: {', '.join(problems)}: {s}")

    def expect(self, slug, records):
        """Records the company's key must end up holding (those of empIds it knows)."""
        key = self.key_of[slug]
        for r in records:
            if r["empId"] in self.known[key]:
                self.expected[key][(r["empId"], r["type"], r["time"])] += 1

    def generated_report(self, first_day, days):
        """A BioTime daily report: every employee that advline's and clarastars' Bayzat keys know,
        a check-in and a check-out a day; with the Bayzat records it must give."""
        out = io.StringIO()
        rows = csv.writer(out, lineterminator="\r\n")
        rows.writerow(["Employee ID", "First Name", "Department", "Date", "Weekday", "Check In",
                       "Check Out"])
        records = collections.defaultdict(list)
        for slug in ("advline", "clarastars"):
            department = self.companies[slug]["fingerprint_report_names"][0]
            key = self.key_of[slug]
            staff = [e for e in self.directory["employees"] if e["company"] == slug
                     and (e.get("bayzat_emp_id") or e["employee_id"]) in self.known[key]]
            for d in range(days):
                day = first_day + datetime.timedelta(days=d)
                for i, e in enumerate(staff):
                    check_in = datetime.datetime.combine(day, datetime.time(7)) + \
                        datetime.timedelta(minutes=(i * 7 + d * 3) % 120)
                    check_out = datetime.datetime.combine(day, datetime.time(16)) + \
                        datetime.timedelta(minutes=(i * 5 + d * 2) % 120)
                    rows.writerow([e["employee_id"], e["name"], department, day.isoformat(),
                                   day.strftime("%A"), check_in.strftime("%H:%M"),
                                   check_out.strftime("%H:%M")])
                    emp = e.get("bayzat_emp_id") or e["employee_id"]
                    for kind, at in (("checkIn", check_in), ("checkOut", check_out)):
                        records[slug].append({"empId": emp, "type": kind,
                                              "time": at.strftime("%Y-%m-%d %H:%M:%S")})
        return out.getvalue().encode(), records

    # --- the checks -------------------------------------------------------------------------

    def readiness(self):
        sync = self.sync_urls()
        for name, base in [("config-service", self.a.config), ("import-service", self.a.imports),
                           ("console", self.a.console)] + [("sync-service", u) for u in sync]:
            get_ok(f"{base}/readyz")
        get_ok(f"{self.a.sim}/__admin/stats")
        get_ok(f"{self.a.prometheus}/-/ready")
        get_ok(f"{self.a.alertmanager}/-/ready")
        self.step("ready: /readyz 200 from config-service, import-service, sync-service, console; "
                  "bayzat-sim, prometheus and alertmanager answer")

    def prometheus_targets(self, sync_replicas):
        def check():
            targets = get_ok(f"{self.a.prometheus}/api/v1/targets?state=active")["data"]["activeTargets"]
            jobs = collections.defaultdict(list)
            for t in targets:
                jobs[t["labels"]["job"]].append(t)
            for job in BRIDGE_JOBS:
                wanted = sync_replicas if job == "sync-service" else 1
                found = jobs.get(job, [])
                down = [f"{t['scrapeUrl']} {t['health']} {t['lastError']}" for t in found
                        if t["health"] != "up"]
                if len(found) != wanted or down:
                    raise SmokeFailure(f"job {job}: {len(found)} target(s) of {wanted}; {down}")
            return sum(len(jobs[j]) for j in BRIDGE_JOBS)
        # A first scrape within scrape_interval; replicas appear on the next DNS refresh.
        up = wait_until("prometheus scraping every bridge target", 120, check, interval_s=2)

        def alertmanagers():
            found = get_ok(f"{self.a.prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
            if not found:
                raise SmokeFailure("prometheus has no active alertmanager")
            return len(found)
        sending_to = wait_until("prometheus sending alerts to alertmanager", 60, alertmanagers,
                                interval_s=2)
        self.step(f"prometheus: {up} bridge targets up ({', '.join(BRIDGE_JOBS)}; "
                  f"{sync_replicas} sync-service); alerts go to {sending_to} alertmanager")

    def load_directory(self):
        with open(self.a.portal_key) as f:
            portal_key = f.read().strip()
        env = dict(os.environ, BRIDGE_PORTAL_SIGNING_KEY=portal_key)
        run = subprocess.run([self.bin("config-service"), "load-directory",
                              os.path.join(self.a.fixtures, "directory.json"), "--url", self.a.config,
                              "--api-url", "http://bayzat-sim:8090/attendance"],
                             env=env, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise SmokeFailure(f"load-directory failed:\n{run.stdout}{run.stderr}")
        run = subprocess.run([self.bin("config-service"), "mint-token", "--key-file",
                              self.a.portal_key, "--sub", "compose-smoke", "--role", "operator",
                              "--ttl", "3600"], capture_output=True, text=True, timeout=30)
        if run.returncode != 0:
            raise SmokeFailure(f"mint-token failed:\n{run.stderr}")
        self.token = run.stdout.strip()
        companies = get_ok(f"{self.a.config}/v1/companies", self.token)
        self.step(f"directory loaded: {len(companies)} companies, "
                  f"{len(self.directory['employees'])} employees, Bayzat URL http://bayzat-sim:8090")

    def basic_report(self):
        with open(os.path.join(self.a.fixtures, "expected", "basic.json")) as f:
            expected = json.load(f)
        with open(os.path.join(self.a.fixtures, "basic.csv"), "rb") as f:
            content = f.read()
        upload = self.upload("basic.csv", content)
        rows = expected["rows"]
        got = {"total": upload["total_records"], "valid": upload["successful_records"],
               "invalid": upload["failed_records"], "skipped": upload["skipped_records"]}
        if got != rows:
            raise SmokeFailure(f"basic.csv rows: {got}, expected {rows}")
        punches = sum(len(p) for p in expected["punches"].values())
        if upload["punches_new"] != punches:
            raise SmokeFailure(f"basic.csv queued {upload['punches_new']} punches, expected {punches}")
        import_id = upload["id"]
        # gulflog syncs hourly: once its punches wait for their run, "sync now" sends them.
        hourly = len(expected["punches"]["gulflog"])

        def gulflog_waiting():
            states = self.progress(import_id).get("gulflog", {})
            # Delivered already when the hourly run came first.
            return True if hourly in (states.get("scheduled"), states.get("delivered")) else None
        wait_until("gulflog's punches waiting for their run", 60, gulflog_waiting)
        sync = self.sync_urls()[0]
        status, body = http("POST", f"{sync}/v1/companies/gulflog/sync-now", self.token)
        if status != 202:
            raise SmokeFailure(f"sync-now answered {status}: {body}")
        progress = self.settled(import_id, punches, 180)

        for slug, records in expected["punches"].items():
            if self.companies[slug]["bayzat"]["is_enabled"]:
                self.expect(slug, records)
        wanted = {}
        for slug, records in expected["punches"].items():
            key = self.key_of[slug]
            if not self.companies[slug]["bayzat"]["is_enabled"]:
                wanted[slug] = {"held": len(records)}
                continue
            delivered = sum(1 for r in records if r["empId"] in self.known[key])
            states = {"delivered": delivered}
            if len(records) - delivered:
                states["rejected"] = len(records) - delivered
            wanted[slug] = states
        if progress != wanted:
            raise SmokeFailure(f"basic.csv progress {progress}, expected {wanted}")
        total = self.check_ledgers("basic.csv")
        self.step(f"basic.csv: {rows['total']} rows, {punches} punches; Bayzat holds exactly the "
                  f"{total} expected (1004 rejected, dormant held, gulflog sent by sync-now)")

    def restart_during_delivery(self):
        content, records = self.generated_report(datetime.date(2026, 10, 1), 20)
        punches = sum(len(r) for r in records.values())
        before = sum(sum(self.ledger(k).values()) for k in self.expected)
        upload = self.upload("generated-2026-10.csv", content)
        if upload["punches_new"] != punches:
            raise SmokeFailure(f"generated report queued {upload['punches_new']} of {punches}")
        for slug, r in records.items():
            self.expect(slug, r)
        # In the middle: some of the new punches have reached Bayzat, not all.
        received = wait_until("the first deliveries of the report", 60, lambda: (
            n if (n := sum(sum(self.ledger(k).values()) for k in self.expected) - before) > 0 else None),
            interval_s=0.2)
        restart_started = time.monotonic()
        self.compose("restart", "sync-service")
        restart_s = time.monotonic() - restart_started
        if received >= punches:
            raise SmokeFailure(f"all {punches} punches were delivered before the restart")
        progress = self.settled(upload["id"], punches, 240)
        wanted = {slug: {"delivered": len(r)} for slug, r in records.items()}
        if progress != wanted:
            raise SmokeFailure(f"after the restart: progress {progress}, expected {wanted}")
        total = self.check_ledgers("after restarting sync-service")
        self.check_pace("after restarting sync-service")
        self.step(f"restart: sync-service restarted ({restart_s:.0f} s) after {received} of {punches} "
                  f"punches; all delivered once (ledgers: {total} punches, 0 lost, 0 doubled)")

    def three_replicas(self):
        self.compose("up", "-d", "--wait", "--wait-timeout", "300", "--scale", "sync-service=3")
        sync = self.sync_urls()
        if len(sync) != 3:
            raise SmokeFailure(f"{len(sync)} sync-service replicas after --scale sync-service=3")
        for url in sync:
            get_ok(f"{url}/readyz")
        self.step(f"scaled: 3 sync-service replicas ready at {', '.join(u.rsplit(':', 1)[1] for u in sync)}")

        content, records = self.generated_report(datetime.date(2026, 9, 1), 20)
        punches = sum(len(r) for r in records.values())
        started = time.monotonic()
        upload = self.upload("generated-2026-09.csv", content)
        for slug, r in records.items():
            self.expect(slug, r)
        progress = self.settled(upload["id"], punches, 240)
        took = time.monotonic() - started
        wanted = {slug: {"delivered": len(r)} for slug, r in records.items()}
        if progress != wanted:
            raise SmokeFailure(f"with three replicas: progress {progress}, expected {wanted}")
        total = self.check_ledgers("with three replicas")
        self.check_pace("with three replicas")
        stats = self.stats()
        gaps = {k: stats[k]["min_gap_ms"] for k in (self.key_of["advline"], self.key_of["clarastars"])}
        calls = []
        for url in sync:
            metrics = get_ok(f"{url}/metrics")
            calls.append(sum(float(m) for m in re.findall(
                r'^bridge_bayzat_calls_total\{[^}]*\} (\S+)$', metrics, re.M)))
        self.step(f"three replicas: {punches} punches in {took:.0f} s, each delivered once "
                  f"(ledgers: {total}); no 429, no request over 20 records, shortest gap per key "
                  f"{min(g for g in gaps.values() if g is not None)} ms; Bayzat calls per replica "
                  f"{', '.join(f'{c:.0f}' for c in calls)}")
        self.prometheus_targets(3)


def main():
    p = argparse.ArgumentParser()
    for name in ("project", "compose", "bin", "fixtures", "portal-key", "config", "imports",
                 "console", "sim", "prometheus", "alertmanager"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--step-started", type=float, default=time.time())
    a = p.parse_args()
    smoke = Smoke(a)
    smoke.readiness()
    smoke.prometheus_targets(1)
    smoke.load_directory()
    smoke.basic_report()
    smoke.restart_during_delivery()
    smoke.three_replicas()


if __name__ == "__main__":
    try:
        main()
    except (SmokeFailure, OSError, subprocess.TimeoutExpired) as error:
        print(f"compose-smoke: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
