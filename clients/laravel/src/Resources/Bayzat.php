<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;

/** A company's Bayzat settings and key (config-service). The key is never shown again, only masked. */
final class Bayzat
{
    public function __construct(private readonly Client $client)
    {
    }

    /** Viewer. The settings, the key masked. */
    public function settings(string|int $company): array
    {
        return $this->client->json(Client::CONFIG, 'GET', $this->path($company));
    }

    /**
     * Admin. $settings: api_key, api_url, sync_frequency (manual, hourly, daily), daily_at
     * ("02:00"), is_enabled. A new key is tried against Bayzat first; one Bayzat refuses is not
     * saved (422 connection_test_failed, the result in problem()['connection_test']).
     */
    public function configure(string|int $company, array $settings): array
    {
        return $this->client->json(Client::CONFIG, 'PUT', $this->path($company), [], $settings);
    }

    /**
     * Admin. Tries the stored key, or $apiKey (with $apiUrl for another URL); answers
     * {"result": "ok" | "invalid_key" | "unreachable" | "unexpected"}.
     */
    public function test(string|int $company, ?string $apiKey = null, ?string $apiUrl = null): array
    {
        $body = array_filter(['api_key' => $apiKey, 'api_url' => $apiUrl], fn ($v) => $v !== null);

        return $this->client->json(Client::CONFIG, 'POST', $this->path($company) . '/test', [], $body === [] ? (object) [] : $body);
    }

    private function path(string|int $company): string
    {
        return '/v1/companies/' . Client::segment($company) . '/bayzat-config';
    }
}
