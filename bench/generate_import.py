#!/usr/bin/env python3
"""Writes the data of `make bench-import`: a daily attendance report of N rows (10 companies,
3,000 employees, about a year of days, ~8% absences) with its directory, and the same rows and
punches as COPY text for the baseline. Deterministic (seeded)."""
import json
import random
import sys
from datetime import date, timedelta

rows_wanted = int(sys.argv[1])
out = sys.argv[2]
rng = random.Random(7)
companies = [f"co{c:02d}" for c in range(1, 11)]
employees = [(f"{e:05d}", companies[e % 10]) for e in range(1, 3001)]
days = (rows_wanted + len(employees) - 1) // len(employees)
start = date(2025, 11, 1)

directory = {
    "companies": [
        {"slug": slug, "name_en": f"Company {slug}", "fingerprint_report_names": [f"Dept {slug}"],
         "timezone": "Asia/Dubai", "bayzat": {"api_key": f"bz_bench_{slug}", "is_enabled": True, "sync_frequency": "manual"}}
        for slug in companies
    ],
    "employees": [{"employee_id": emp, "name": f"Employee {emp}", "company": co} for emp, co in employees],
}
with open(f"{out}/directory.json", "w") as f:
    json.dump(directory, f)

company_ids = {slug: i + 1 for i, slug in enumerate(companies)}
written = 0
punches = 0
with open(f"{out}/report.csv", "w") as report, open(f"{out}/rows.copy", "w") as rows_copy, open(f"{out}/punches.copy", "w") as punches_copy:
    report.write("Employee ID,First Name,Department,Date,Weekday,Check In,Check Out\n")
    line = 1
    for d in range(days):
        day = start + timedelta(days=d)
        for emp, co in employees:
            if written == rows_wanted:
                break
            line += 1
            written += 1
            if rng.random() < 0.08:
                check_in = check_out = "--"
                times = []
            else:
                minute_in = 7 * 60 + rng.randrange(120)
                minute_out = 16 * 60 + rng.randrange(150)
                check_in = f"{minute_in // 60:02d}:{minute_in % 60:02d}"
                check_out = f"{minute_out // 60:02d}:{minute_out % 60:02d}"
                times = [("checkIn", check_in), ("checkOut", check_out)]
            report.write(f"{emp},Employee {emp},Dept {co},{day.isoformat()},{day.strftime('%A')},{check_in},{check_out}\n")
            raw = json.dumps([emp, f"Employee {emp}", f"Dept {co}", day.isoformat(), day.strftime('%A'), check_in, check_out])
            outcome = "valid" if times else "skipped"
            punch_json = json.dumps([{"type": t, "time": f"{day.isoformat()} {hm}:00"} for t, hm in times])
            esc = lambda s: s.replace("\\", "\\\\").replace("\t", "\\t")
            rows_copy.write("\t".join(["1", str(line), esc(raw), outcome, "[]", "[]", f"Dept {co}", str(company_ids[co]), emp, emp, day.isoformat(), esc(punch_json), "{}", "{}", "f"]) + "\n")
            for t, hm in times:
                punches += 1
                punches_copy.write("\t".join([str(company_ids[co]), emp, f"{day.isoformat()} {hm}:00", t, "1", str(line)]) + "\n")
print(f"{written} {punches}")
