<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;

/** Delivery to Bayzat (sync-service): batches, retries, deliveries, "sync now", sync health. */
final class Sync
{
    public function __construct(private readonly Client $client)
    {
    }

    /**
     * A page of batches (one per import and company). $filters: company, import_id, status
     * (a batch is `completed` when all were delivered, `failed` when some were rejected or
     * failed), page, per_page.
     */
    public function batches(array $filters = []): array
    {
        return $this->client->json(Client::SYNC, 'GET', '/v1/batches', $filters);
    }

    public function batch(string $id): array
    {
        return $this->client->json(Client::SYNC, 'GET', '/v1/batches/' . Client::segment($id));
    }

    /** Operator. Sends the batch's rejected and failed punches again; answers {"queued": n}. */
    public function retryBatch(string $id): array
    {
        return $this->client->json(Client::SYNC, 'POST', '/v1/batches/' . Client::segment($id) . '/retry');
    }

    /**
     * A page of deliveries (one per punch). $filters: company, import_id, batch_id, state,
     * employee, from, to, page, per_page.
     */
    public function deliveries(array $filters = []): array
    {
        return $this->client->json(Client::SYNC, 'GET', '/v1/deliveries', $filters);
    }

    /** Operator. Sends what waits for the company's next hourly or daily run at once; {"queued": n}. */
    public function syncNow(string|int $company): array
    {
        return $this->client->json(Client::SYNC, 'POST', '/v1/companies/' . Client::segment($company) . '/sync-now');
    }

    /** Operator. The same for one import's punches. */
    public function syncImportNow(int $importId): array
    {
        return $this->client->json(Client::SYNC, 'POST', '/v1/imports/' . $importId . '/sync-now');
    }

    /**
     * How the company's delivery is doing: state (active, paused_auth, disabled), counts by
     * delivery state, oldest waiting, last success and error, the last 24 hours' calls.
     */
    public function health(string|int $company): array
    {
        return $this->client->json(Client::SYNC, 'GET', '/v1/companies/' . Client::segment($company) . '/sync-health');
    }

    /** The company's Bayzat calls per day. */
    public function usage(string|int $company, array $filters = []): array
    {
        return $this->client->json(Client::SYNC, 'GET', '/v1/companies/' . Client::segment($company) . '/usage', $filters);
    }
}
