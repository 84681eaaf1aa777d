<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;

/**
 * The bridge's webhook endpoints (config-service): where it sends its events, and what it sent.
 * Needs a bridge with webhooks; an older one answers 404.
 */
final class Webhooks
{
    public function __construct(private readonly Client $client)
    {
    }

    public function list(): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/webhooks');
    }

    /** $endpoint: url, the event types to send, … as the bridge takes them; the answer carries the secret. */
    public function create(array $endpoint): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/webhooks', [], $endpoint);
    }

    public function update(string|int $id, array $changes): array
    {
        return $this->client->json(Client::CONFIG, 'PATCH', '/v1/webhooks/' . Client::segment($id), [], $changes);
    }

    public function delete(string|int $id): void
    {
        $this->client->json(Client::CONFIG, 'DELETE', '/v1/webhooks/' . Client::segment($id));
    }

    /** A page of what was sent to the endpoint, with each attempt's outcome. */
    public function deliveries(string|int $id, array $filters = []): array
    {
        return $this->client->json(Client::CONFIG, 'GET', '/v1/webhooks/' . Client::segment($id) . '/deliveries', $filters);
    }

    /** Sends a delivery again. */
    public function replay(string|int $id, string|int $delivery): array
    {
        return $this->client->json(Client::CONFIG, 'POST', '/v1/webhooks/' . Client::segment($id) . '/deliveries/' . Client::segment($delivery) . '/replay') ?? [];
    }
}
