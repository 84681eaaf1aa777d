#!/usr/bin/env python3
"""Writes the data of `make bench-sync`: five companies, each with 30 employees and 1,200 punches
(20 days of check-in and check-out), as a directory.json, one daily report.csv holding all of them,
and punches.json (per Bayzat key, the records in time order) for the sequential baseline."""
import json
import sys
from datetime import date, timedelta

out = sys.argv[1]
companies = [f"bench{c}" for c in range(1, 6)]
per_company_employees = 30
days = 20
start = date(2026, 10, 1)

employees = [(f"{c}{e:03d}", slug) for c, slug in enumerate(companies, 1) for e in range(1, per_company_employees + 1)]
directory = {
    "companies": [
        {"slug": slug, "name_en": f"Bench {slug}", "fingerprint_report_names": [f"Dept {slug}"],
         "timezone": "Asia/Dubai",
         "bayzat": {"api_key": f"bz_bench_{slug}", "is_enabled": True, "sync_frequency": "manual"}}
        for slug in companies
    ],
    "employees": [{"employee_id": emp, "name": f"Employee {emp}", "company": co} for emp, co in employees],
    # The simulator's keys and the empIds each one knows.
    "bayzat_simulator": {f"bz_bench_{slug}": [emp for emp, co in employees if co == slug] for slug in companies},
}
with open(f"{out}/directory.json", "w") as f:
    json.dump(directory, f)

records = {f"bz_bench_{slug}": [] for slug in companies}
with open(f"{out}/report.csv", "w") as report:
    report.write("Employee ID,First Name,Department,Date,Check In,Check Out\n")
    for d in range(days):
        day = start + timedelta(days=d)
        for i, (emp, co) in enumerate(employees):
            minute_in = 7 * 60 + i % 90
            minute_out = 16 * 60 + i % 120
            check_in = f"{minute_in // 60:02d}:{minute_in % 60:02d}"
            check_out = f"{minute_out // 60:02d}:{minute_out % 60:02d}"
            report.write(f"{emp},Employee {emp},Dept {co},{day.isoformat()},{check_in},{check_out}\n")
            for kind, hm in (("checkIn", check_in), ("checkOut", check_out)):
                records[f"bz_bench_{co}"].append({"empId": emp, "type": kind, "time": f"{day.isoformat()} {hm}:00"})
for key in records:
    records[key].sort(key=lambda r: r["time"])
with open(f"{out}/punches.json", "w") as f:
    json.dump(records, f)
print(sum(len(r) for r in records.values()))
