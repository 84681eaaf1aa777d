<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;

/** A company's employee directory (config-service). */
final class Employees
{
    public function __construct(private readonly Client $client)
    {
    }

    /** A page of the company's employees; $search matches ids and names. */
    public function list(string|int $company, ?string $search = null, ?bool $active = null, int $page = 1, int $perPage = 50): array
    {
        return $this->client->json(Client::CONFIG, 'GET', $this->path($company), [
            'search' => $search, 'active' => $active, 'page' => $page, 'per_page' => $perPage,
        ]);
    }

    /**
     * Operator. Adds and updates (up to 10,000 at once, all or nothing); leaving someone out
     * changes nothing. Each: employee_id, name, and optionally bayzat_emp_id and active.
     * Answers {inserted, updated, unchanged}.
     *
     * @param list<array<string, mixed>> $employees
     */
    public function push(string|int $company, array $employees): array
    {
        return $this->client->json(Client::CONFIG, 'PUT', $this->path($company), [], ['employees' => array_values($employees)]);
    }

    /**
     * Operator. HR's export as CSV (columns Employee ID, Name, optional Bayzat Emp ID and Active):
     * a file with any unusable row is refused whole (422 invalid_rows, the rows in problem()).
     */
    public function uploadCsv(string|int $company, string $csv): array
    {
        return $this->client->upload(Client::CONFIG, $this->path($company) . '.csv', $csv, 'text/csv');
    }

    /** Operator. Deactivates one employee (its punches are no longer sent). */
    public function deactivate(string|int $company, string $employeeId): array
    {
        return $this->client->json(Client::CONFIG, 'POST', $this->path($company) . '/' . Client::segment($employeeId) . '/deactivate') ?? [];
    }

    private function path(string|int $company): string
    {
        return '/v1/companies/' . Client::segment($company) . '/employees';
    }
}
