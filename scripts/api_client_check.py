"""Generates Python clients from the three OpenAPI documents with openapi-python-client and calls
the running services through them (part of `make fuzz-api`, scripts/fuzz-api.sh).

    api_client_check.py --docs DIR --out DIR --token TOKEN --report FILE \
        --config URL --imports URL --sync URL

DIR holds config-service.json, import-service.json and sync-service.json. The calls: list the
companies (config-service), upload a report as a multipart `file` and as a raw body with
`filename`, read the import and a page of its rows (import-service), list the deliveries
(sync-service). Every answer must parse into the generated models. A call answered 429 is made
again once the wait the answer names has passed (bridge_http). Prints one `api-client:` line;
exits 1 on the first call that does not work.
"""

import argparse
import importlib
import io
import os
import subprocess
import sys

import bridge_http


def generate(docs, out, service):
    package = service.replace("-", "_") + "_client"
    target = os.path.join(out, package)
    subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "openapi-python-client"),
            "generate",
            "--path",
            os.path.join(docs, f"{service}.json"),
            "--meta",
            "none",
            "--output-path",
            target,
            "--overwrite",
        ],
        check=True,
        capture_output=True,
    )
    return package


def expect(what, response, status, model):
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, model):
        raise SystemExit(
            f"api-client: {what}: got {response.status_code} {type(parsed).__name__}, "
            f"expected {status} {model.__name__}: {response.content[:300]!r}"
        )
    return parsed


def main():
    parser = argparse.ArgumentParser()
    for name in ("docs", "out", "token", "report", "config", "imports", "sync"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sys.path.insert(0, args.out)
    clients = {
        service: generate(args.docs, args.out, service)
        for service in ("config-service", "import-service", "sync-service")
    }

    def client(service, url):
        package = importlib.import_module(clients[service])
        return package, package.AuthenticatedClient(base_url=url, token=args.token)

    calls = 0
    config, config_client = client("config-service", args.config)
    list_companies = importlib.import_module(f"{clients['config-service']}.api.companies.list_companies")
    companies = bridge_http.waiting_on_429(lambda: list_companies.sync_detailed(client=config_client), "list_companies")
    company_view = importlib.import_module(f"{clients['config-service']}.models.company_view")
    if companies.status_code != 200 or not all(
        isinstance(c, company_view.CompanyView) for c in companies.parsed or []
    ):
        raise SystemExit(f"api-client: list_companies: {companies.status_code} {companies.content[:300]!r}")
    calls += 1

    imports, imports_client = client("import-service", args.imports)
    name = clients["import-service"]
    upload = importlib.import_module(f"{name}.api.imports.upload")
    get_import = importlib.import_module(f"{name}.api.imports.get_import")
    list_rows = importlib.import_module(f"{name}.api.imports.list_rows")
    models = importlib.import_module(f"{name}.models")
    types = importlib.import_module(f"{name}.types")
    report = open(args.report, "rb").read()

    # Each attempt reads its own copy of the bytes: a call made again after a 429 sends them whole.
    def multipart():
        form = models.UploadForm(file=types.File(payload=io.BytesIO(report), file_name="client.csv"))
        return upload.sync_detailed(client=imports_client, body=form, force=True)

    def raw_body():
        raw = types.File(payload=io.BytesIO(report), file_name="raw.csv", mime_type="application/octet-stream")
        return upload.sync_detailed(client=imports_client, body=raw, filename="raw.csv")

    # A multipart upload, forced so that the bytes are imported again whatever ran before.
    created = expect(
        "upload (multipart)",
        bridge_http.waiting_on_429(multipart, "upload (multipart)"),
        201,
        models.ImportView,
    )
    # The same bytes as a raw body with `filename`, not forced: the earlier import comes back.
    again = expect(
        "upload (raw body)",
        bridge_http.waiting_on_429(raw_body, "upload (raw body)"),
        200,
        models.ImportView,
    )
    if not again.reused:
        raise SystemExit("api-client: upload (raw body): the earlier import was not reused")
    calls += 2
    shown = expect(
        "get_import",
        bridge_http.waiting_on_429(lambda: get_import.sync_detailed(client=imports_client, id=created.id), "get_import"),
        200,
        models.ImportView,
    )
    rows = expect(
        "list_rows",
        bridge_http.waiting_on_429(lambda: list_rows.sync_detailed(client=imports_client, id=shown.id), "list_rows"),
        200,
        models.PageStoredRow,
    )
    if not rows.items:
        raise SystemExit("api-client: list_rows: no rows")
    calls += 2

    sync, sync_client = client("sync-service", args.sync)
    name = clients["sync-service"]
    list_deliveries = importlib.import_module(f"{name}.api.deliveries.list_deliveries")
    delivery_page = importlib.import_module(f"{name}.models.delivery_page")
    deliveries = expect(
        "list_deliveries",
        bridge_http.waiting_on_429(lambda: list_deliveries.sync_detailed(client=sync_client), "list_deliveries"),
        200,
        delivery_page.DeliveryPage,
    )
    calls += 1
    print(
        f"api-client: {calls} calls through clients generated from the three documents work "
        f"(import {created.id}: {len(rows.items)} rows; {deliveries.total} deliveries)"
    )


if __name__ == "__main__":
    try:
        main()
    except bridge_http.RateLimited as error:
        raise SystemExit(f"api-client: {error}") from error
