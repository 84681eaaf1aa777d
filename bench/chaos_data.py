#!/usr/bin/env python3
"""The data of `make bench-chaos`: ten companies with 25 employees each and 40 days of check-in
and check-out (20,000 punches), cut into overlapping daily reports.

  chaos_data.py OUT_DIR    writes directory.json, report-*.csv and expected.json

Two employees (of chaos01 and chaos02) are in the directory but unknown to their Bayzat keys:
their 8 punches must end up rejected, every other punch delivered. The reports overlap (a later
report repeats days of an earlier one) and one re-import covers days already imported, so the
import side must queue nothing twice.
"""
import json
import sys
from datetime import date, timedelta

COMPANIES = [f"chaos{c:02d}" for c in range(1, 11)]
EMPLOYEES = 25
DAYS = 40
START = date(2026, 9, 1)
# (first day, last day) of each report, in upload order; the fourth re-imports days 5-34.
REPORTS = [(0, 11), (10, 21), (20, 31), (5, 34), (30, 39)]
HEADER = "Employee ID,First Name,Department,Date,Check In,Check Out\n"


def key_of(slug):
    return f"bz_chaos_{slug}"


def build():
    employees = {slug: [f"{c}{e:03d}" for e in range(1, EMPLOYEES + 1)] for c, slug in enumerate(COMPANIES, 1)}
    # Known to the directory, not to Bayzat: Bayzat refuses their punches (unknown_employee).
    unknown = {COMPANIES[0]: "1900", COMPANIES[1]: "2900"}
    rows = []  # (day index, emp, slug, check_in, check_out)
    for d in range(DAYS):
        for c, slug in enumerate(COMPANIES):
            for i, emp in enumerate(employees[slug]):
                if slug in unknown and i == EMPLOYEES - 1 and d < 2:
                    emp = unknown[slug]
                minute_in = 7 * 60 + (i * 7 + d) % 90
                minute_out = 16 * 60 + (i * 11 + d) % 120
                rows.append((d, emp, slug, f"{minute_in // 60:02d}:{minute_in % 60:02d}",
                             f"{minute_out // 60:02d}:{minute_out % 60:02d}"))
    directory = {
        "companies": [
            {"slug": slug, "name_en": f"Chaos {slug}", "fingerprint_report_names": [f"Dept {slug}"],
             "timezone": "Asia/Dubai",
             "bayzat": {"api_key": key_of(slug), "is_enabled": True, "sync_frequency": "manual"}}
            for slug in COMPANIES
        ],
        "employees": [{"employee_id": emp, "name": f"Employee {emp}", "company": slug}
                      for slug in COMPANIES for emp in employees[slug] + ([unknown[slug]] if slug in unknown else [])],
        "bayzat_simulator": {key_of(slug): employees[slug] for slug in COMPANIES},
    }
    return rows, directory, unknown


def main(out):
    rows, directory, unknown = build()
    with open(f"{out}/directory.json", "w") as f:
        json.dump(directory, f)
    for n, (first, last) in enumerate(REPORTS, 1):
        with open(f"{out}/report-{n}.csv", "w") as report:
            report.write(HEADER)
            for d, emp, slug, check_in, check_out in rows:
                if first <= d <= last:
                    day = (START + timedelta(days=d)).isoformat()
                    report.write(f"{emp},Employee {emp},Dept {slug},{day},{check_in},{check_out}\n")
    unknown_emps = set(unknown.values())
    expected = {"deliver": {}, "reject": {}}
    for d, emp, slug, check_in, check_out in rows:
        day = (START + timedelta(days=d)).isoformat()
        bucket = expected["reject" if emp in unknown_emps else "deliver"].setdefault(slug, [])
        for kind, hm in (("checkIn", check_in), ("checkOut", check_out)):
            bucket.append([emp, kind, f"{day} {hm}:00"])
    expected["reports"] = [f"report-{n}.csv" for n in range(1, len(REPORTS) + 1)]
    expected["keys"] = {slug: key_of(slug) for slug in COMPANIES}
    with open(f"{out}/expected.json", "w") as f:
        json.dump(expected, f)
    print(sum(len(v) for part in ("deliver", "reject") for v in expected[part].values()))


if __name__ == "__main__":
    main(sys.argv[1])
