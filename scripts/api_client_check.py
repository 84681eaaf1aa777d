"""Generates Python clients from the three OpenAPI documents with openapi-python-client and calls
the running services through them (part of `make fuzz-api`, scripts/fuzz-api.sh).

    api_client_check.py --docs DIR --out DIR --token TOKEN --report FILE \
        --config URL --imports URL --sync URL

DIR holds config-service.json, import-service.json and sync-service.json. The calls: list the
companies (config-service), upload a report as a multipart `file` and as a raw body with
`filename`, read the import and a page of its rows (import-service), list the deliveries
(sync-service). Every answer must parse into the generated models. Prints one `api-client:` line;
exits 1 on the first call that does not work.
"""

import argparse
import importlib
import io
import os
import subprocess
import sys


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
    companies = list_companies.sync_detailed(client=config_client)
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
    # A multipart upload, forced so that the bytes are imported again whatever ran before.
    form = models.UploadForm(file=types.File(payload=io.BytesIO(report), file_name="client.csv"))
    created = expect(
        "upload (multipart)",
        upload.sync_detailed(client=imports_client, body=form, force=True),
        201,
        models.ImportView,
    )
    # The same bytes as a raw body with `filename`, not forced: the earlier import comes back.
    raw = types.File(payload=io.BytesIO(report), file_name="raw.csv", mime_type="application/octet-stream")
    again = expect(
        "upload (raw body)",
        upload.sync_detailed(client=imports_client, body=raw, filename="raw.csv"),
        200,
        models.ImportView,
    )
    if not again.reused:
        raise SystemExit("api-client: upload (raw body): the earlier import was not reused")
    calls += 2
    shown = expect(
        "get_import", get_import.sync_detailed(client=imports_client, id=created.id), 200, models.ImportView
    )
    rows = expect(
        "list_rows", list_rows.sync_detailed(client=imports_client, id=shown.id), 200, models.PageStoredRow
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
        list_deliveries.sync_detailed(client=sync_client),
        200,
        delivery_page.DeliveryPage,
    )
    calls += 1
    print(
        f"api-client: {calls} calls through clients generated from the three documents work "
        f"(import {created.id}: {len(rows.items)} rows; {deliveries.total} deliveries)"
    )


if __name__ == "__main__":
    main()
