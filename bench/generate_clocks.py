#!/usr/bin/env python3
"""Writes the directory of `make bench-clocks`: COMPANIES companies whose sync frequency is manual,
each with its own Bayzat key and EMPLOYEES employees whose ids are numbers (company c's are
c*1000+1 onward, the PINs its clocks punch), as a directory.json. Prints clock-sim's --pins: one
range per company, separated by `;`, so terminal i punches company ((i - 1) % COMPANIES) + 1's.

  generate_clocks.py OUT_DIR COMPANIES EMPLOYEES
"""
import json
import sys

out, company_count, employee_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if not 1 <= employee_count <= 999:
    sys.exit("EMPLOYEES must be between 1 and 999")
companies = [f"clocks{c:02d}" for c in range(1, company_count + 1)]


def employees(c):
    return [str(c * 1000 + e) for e in range(1, employee_count + 1)]


directory = {
    "companies": [
        {"slug": slug, "name_en": f"Bench {slug}", "fingerprint_report_names": [f"Dept {slug}"],
         "timezone": "Asia/Dubai",
         "bayzat": {"api_key": f"bz_bench_{slug}", "is_enabled": True, "sync_frequency": "manual"}}
        for slug in companies
    ],
    "employees": [
        {"employee_id": emp, "name": f"Employee {emp}", "company": slug}
        for c, slug in enumerate(companies, 1) for emp in employees(c)
    ],
    # The simulator's keys and the empIds each one knows.
    "bayzat_simulator": {f"bz_bench_{slug}": employees(c) for c, slug in enumerate(companies, 1)},
}
with open(f"{out}/directory.json", "w") as f:
    json.dump(directory, f)
print(";".join(f"{c * 1000 + 1}-{c * 1000 + employee_count}" for c in range(1, company_count + 1)))
