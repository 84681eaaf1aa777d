<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;

/**
 * The bridge's webhook endpoints (config-service, role admin): where it sends its events, and
 * what it sent.
 */
final class Webhooks
{
    public function __construct(private readonly Client $client)
    {
    }

    /** `{"endpoints": [...]}`: every endpoint, without its secret. */
    public function list(): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/webhooks');
    }

    /**
     * $endpoint: `url`, `event_types` (at least one), and optionally `description`,
     * `companies` (ids or slugs; left out: every company) and `owner_email`. The answer is the
     * endpoint with its `secret` (`whsec_…`), shown this once.
     */
    public function create(array $endpoint): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/webhooks', [], $endpoint);
    }

    public function get(string|int $id): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/webhooks/' . Client::segment($id));
    }

    /** $changes: any of url, description, event_types, companies, owner_email, enabled. */
    public function update(string|int $id, array $changes): array
    {
        return $this->client->json(Client::CONFIG, 'PATCH', '/v1/webhooks/' . Client::segment($id), [], $changes);
    }

    public function delete(string|int $id): void
    {
        $this->client->json(Client::CONFIG, 'DELETE', '/v1/webhooks/' . Client::segment($id));
    }

    /**
     * A new signing secret: `{"secret", "previous_secrets_expire_at"}`. Until then the bridge
     * signs with the old secrets too, so the portal has that long to configure the new one.
     */
    public function rotateSecret(string|int $id): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/webhooks/' . Client::segment($id) . '/secret/rotate');
    }

    /**
     * What was sent to the endpoint, newest first, with each attempt's outcome:
     * `{"deliveries": [...], "next_before"}`; $filters: `limit`, `before` (the `next_before` of
     * the page before).
     */
    public function deliveries(string|int $id, array $filters = []): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/webhooks/' . Client::segment($id) . '/deliveries', $filters);
    }

    /** Sends a delivery again, under its webhook id (the listener sees the same `id`). */
    public function replay(string|int $id, string|int $delivery): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/webhooks/' . Client::segment($id) . '/deliveries/' . Client::segment($delivery) . '/replay') ?? [];
    }
}
