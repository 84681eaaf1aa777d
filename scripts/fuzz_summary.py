"""Summarises schemathesis NDJSON reports for `make fuzz-api` (scripts/fuzz-api.sh).

    fuzz_summary.py SERVICE TOKEN REPORT.ndjson   one `fuzz-api:` line, then each distinct failure
    fuzz_summary.py --total REPORT.ndjson...      one `fuzz-api: total` line

Operations are the operations tested, checks the checks run on their answers, failures the
checks that failed (a distinct failure is one check failing on one operation with one status).
Errors are schemathesis' own (a test it could not run). Exits 1 when a report has failures or
errors, or did not finish.
"""

import json
import sys


def read(path):
    operations, checks, failures, distinct, finished = set(), 0, 0, {}, False
    errors = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return None
    for line in lines:
        event = json.loads(line)
        if "EngineFinished" in event:
            finished = True
        if "NonFatalError" in event:
            error = event["NonFatalError"]
            errors.append(f"{error.get('label', '?')}: {str(error.get('value', {}).get('message', 'error'))[:200]}")
        scenario = event.get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario.get("recorder") or {}
        label = recorder.get("label", "?")
        case_checks = recorder.get("checks") or {}
        if case_checks:
            operations.add(label)
        for case_id, results in case_checks.items():
            for result in results:
                checks += 1
                if result.get("status") != "failure":
                    continue
                failures += 1
                interaction = (recorder.get("interactions") or {}).get(case_id) or {}
                response = interaction.get("response") or {}
                key = (label, result.get("name"), response.get("status_code"))
                if key not in distinct:
                    distinct[key] = describe(result, interaction)
    return operations, checks, failures, distinct, finished, errors


def describe(result, interaction):
    info = result.get("failure_info") or {}
    failure = info.get("failure") or {}
    title = failure.get("title") or ""
    message = (failure.get("message") or "").replace("\n", " ")[:300]
    request = interaction.get("request") or {}
    return f"{title}: {message} [{request.get('method', '')} {request.get('uri', '')}]".strip()


def main(argv):
    if argv[:1] == ["--total"]:
        totals = [0, 0, 0]
        for path in argv[1:]:
            read_back = read(path)
            if read_back is None:
                continue
            operations, checks, failures, _, _, _ = read_back
            totals[0] += len(operations)
            totals[1] += checks
            totals[2] += failures
        print(f"fuzz-api: total: {totals[0]} operations, {totals[1]} checks, {totals[2]} failures")
        return 1 if totals[2] else 0
    service, token, path = argv
    read_back = read(path)
    if read_back is None:
        print(f"fuzz-api: {service} as {token}: no report (see the log)")
        return 1
    operations, checks, failures, distinct, finished, errors = read_back
    note = "" if finished else " (did not finish)"
    if errors:
        note += f", {len(errors)} schemathesis errors"
    print(
        f"fuzz-api: {service} as {token}: {len(operations)} operations, {checks} checks, "
        f"{failures} failures ({len(distinct)} distinct){note}"
    )
    for (label, check, status), text in sorted(distinct.items(), key=str):
        print(f"  {label} {check} {status}: {text}")
    for error in errors:
        print(f"  error: {error}")
    return 1 if failures or errors or not finished else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
