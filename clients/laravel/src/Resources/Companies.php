<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;

/** Companies and their fingerprint report names (config-service). A company is named by its slug or id. */
final class Companies
{
    public function __construct(private readonly Client $client)
    {
    }

    /** Every company the token covers (a plain array, not a page). */
    public function list(): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/companies');
    }

    public function get(string|int $company): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/companies/' . Client::segment($company));
    }

    /**
     * Admin. $company: slug, name_en, name_ar, timezone, fingerprint_report_names (list of names).
     */
    public function create(array $company): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/companies', [], $company);
    }

    /** Admin. The fields to change (name_en, name_ar, timezone, …). */
    public function update(string|int $company, array $changes): array
    {
        return $this->client->json(Client::CONFIG, 'PATCH', '/v1/companies/' . Client::segment($company), [], $changes);
    }

    /** Operator. Another department name the clocks' reports use for the company; 409 report_name_taken when another company has it. */
    public function addReportName(string|int $company, string $name): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/companies/' . Client::segment($company) . '/report-names', [], ['name' => $name]);
    }

    /** Operator. $id: the report name's id (from the company's fingerprint_report_names). */
    public function removeReportName(string|int $company, int $id): void
    {
        $this->client->json(Client::CONFIG, 'DELETE', '/v1/companies/' . Client::segment($company) . '/report-names/' . $id);
    }

    /** Admin. The audit log, a page; $filters as the API takes them (page, per_page, …). */
    public function audit(array $filters = []): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/audit', $filters);
    }
}
