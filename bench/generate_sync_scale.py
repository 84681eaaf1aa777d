#!/usr/bin/env python3
"""Writes the data of `make bench-sync-scale`: COMPANIES companies, each with its own Bayzat key
and PUNCHES_PER_COMPANY punches (check-in and check-out of up to 30 employees over as many days as
needed), as a directory.json and one daily report.csv holding all of them. Prints the number of
punches.

  generate_sync_scale.py OUT_DIR COMPANIES PUNCHES_PER_COMPANY
"""
import json
import sys
from datetime import date, timedelta

out, company_count, per_company = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if per_company < 2 or per_company % 2:
    sys.exit("PUNCHES_PER_COMPANY must be an even number of at least 2")
rows_per_company = per_company // 2
per_company_employees = min(30, rows_per_company)
companies = [f"bench{c:04d}" for c in range(1, company_count + 1)]
start = date(2026, 10, 1)


def employee(c, e):
    return f"{c}{e:03d}"


directory = {
    "companies": [
        {"slug": slug, "name_en": f"Bench {slug}", "fingerprint_report_names": [f"Dept {slug}"],
         "timezone": "Asia/Dubai",
         "bayzat": {"api_key": f"bz_bench_{slug}", "is_enabled": True, "sync_frequency": "manual"}}
        for slug in companies
    ],
    "employees": [
        {"employee_id": employee(c, e), "name": f"Employee {employee(c, e)}", "company": slug}
        for c, slug in enumerate(companies, 1) for e in range(1, per_company_employees + 1)
    ],
    # The simulator's keys and the empIds each one knows.
    "bayzat_simulator": {
        f"bz_bench_{slug}": [employee(c, e) for e in range(1, per_company_employees + 1)]
        for c, slug in enumerate(companies, 1)
    },
}
with open(f"{out}/directory.json", "w") as f:
    json.dump(directory, f)

punches = 0
with open(f"{out}/report.csv", "w") as report:
    report.write("Employee ID,First Name,Department,Date,Check In,Check Out\n")
    # Day by day, every company's employees, so each company's rows spread over the whole file.
    day_index = 0
    written = 0
    while written < rows_per_company:
        day = start + timedelta(days=day_index)
        todays = min(per_company_employees, rows_per_company - written)
        for c, slug in enumerate(companies, 1):
            for e in range(1, todays + 1):
                minute_in = 7 * 60 + e % 90
                minute_out = 16 * 60 + e % 120
                emp = employee(c, e)
                report.write(f"{emp},Employee {emp},Dept {slug},{day.isoformat()},"
                             f"{minute_in // 60:02d}:{minute_in % 60:02d},"
                             f"{minute_out // 60:02d}:{minute_out % 60:02d}\n")
                punches += 2
        written += todays
        day_index += 1
print(punches)
