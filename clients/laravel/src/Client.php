<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel;

use AttendanceBridge\Laravel\Auth\TokenSigner;
use AttendanceBridge\Laravel\Exceptions\ApiException;
use AttendanceBridge\Laravel\Exceptions\ConfigurationException;
use AttendanceBridge\Laravel\Exceptions\ConnectionException;
use AttendanceBridge\Laravel\Resources\Bayzat;
use AttendanceBridge\Laravel\Resources\Companies;
use AttendanceBridge\Laravel\Resources\Employees;
use AttendanceBridge\Laravel\Resources\Imports;
use AttendanceBridge\Laravel\Resources\Sync;
use AttendanceBridge\Laravel\Resources\Webhooks;
use Illuminate\Http\Client\ConnectionException as HttpConnectionException;
use Illuminate\Http\Client\Factory as HttpFactory;
use Illuminate\Http\Client\Response;

/**
 * The bridge's three APIs as one person of the portal: every call carries a token for them,
 * minted just before it is sent. Made by AttendanceBridge::as(); errors are ApiException
 * subclasses (problem+json, with code()), an unreachable service a ConnectionException.
 */
final class Client
{
    public const CONFIG = 'config';
    public const IMPORT = 'import';
    public const SYNC = 'sync';

    /**
     * @param array{config?: ?string, import?: ?string, sync?: ?string} $urls
     * @param list<string>|null $companies
     */
    public function __construct(
        private readonly HttpFactory $http,
        private readonly TokenSigner $signer,
        private readonly array $urls,
        private readonly string $sub,
        private readonly string $role,
        private readonly ?array $companies = null,
        private readonly ?string $team = null,
        private readonly int $timeout = 60,
    ) {
        // Checked now rather than at the first call, so a mistake shows where the client is made.
        $signer->sign($sub, $role, $companies, $team);
    }

    /** Companies and their fingerprint report names (config-service). */
    public function companies(): Companies
    {
        return new Companies($this);
    }

    /** The employee directory of a company, as JSON or HR's CSV (config-service). */
    public function employees(): Employees
    {
        return new Employees($this);
    }

    /** A company's Bayzat settings and key, and the key's test (config-service). */
    public function bayzat(): Bayzat
    {
        return new Bayzat($this);
    }

    /** Report uploads, their progress and rows (import-service). */
    public function imports(): Imports
    {
        return new Imports($this);
    }

    /** Batches, retries, deliveries, "sync now" and sync health (sync-service). */
    public function sync(): Sync
    {
        return new Sync($this);
    }

    /** Webhook endpoints and their deliveries (config-service; needs a bridge with webhooks). */
    public function webhooks(): Webhooks
    {
        return new Webhooks($this);
    }

    /** The token the next call would carry (for a call this package does not wrap). */
    public function token(): string
    {
        return $this->signer->sign($this->sub, $this->role, $this->companies, $this->team);
    }

    /**
     * One call, its JSON answer decoded (null for an empty body).
     *
     * @param array<string, scalar|null> $query
     */
    public function json(string $service, string $method, string $path, array $query = [], array|object|null $json = null): mixed
    {
        if ($json === null) {
            return $this->send($service, $method, $path, $query, [])->json();
        }
        if (is_array($json)) {
            // Laravel's own JSON body, so that Http::fake() assertions read it as data.
            return $this->send($service, $method, $path, $query, ['json' => $json])->json();
        }
        // An object ((object) [] for `{}`, which an empty PHP array cannot say), encoded here.
        $body = json_encode($json, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);

        return $this->send($service, $method, $path, $query, ['body' => $body], 'application/json')->json();
    }

    /**
     * One call with a raw body ($contentType: text/csv, application/octet-stream, …).
     *
     * @param array<string, scalar|null> $query
     */
    public function upload(string $service, string $path, string $body, string $contentType, array $query = []): mixed
    {
        return $this->send($service, 'POST', $path, $query, ['body' => $body], $contentType)->json();
    }

    /**
     * One call whose answer is not JSON (a CSV or workbook export): the bytes.
     *
     * @param array<string, scalar|null> $query
     */
    public function raw(string $service, string $method, string $path, array $query = [], string $accept = '*/*'): string
    {
        return $this->send($service, $method, $path, $query, [], null, $accept)->body();
    }

    /** @param array<string, scalar|null> $query */
    private function send(string $service, string $method, string $path, array $query, array $options, ?string $contentType = null, string $accept = 'application/json'): Response
    {
        $base = $this->urls[$service] ?? null;
        if (!is_string($base) || $base === '') {
            throw new ConfigurationException('no URL for the ' . $service . ' service (ATTENDANCE_BRIDGE_' . strtoupper($service) . '_URL)');
        }
        $request = $this->http
            ->withToken($this->token())
            ->withHeaders(['Accept' => $accept])
            ->timeout($this->timeout);
        if (isset($options['body'])) {
            $request = $request->withBody($options['body'], (string) $contentType);
        }
        $url = rtrim($base, '/') . $path . self::queryString($query);
        try {
            $response = $request->send($method, $url, $options);
        } catch (HttpConnectionException $e) {
            // Guzzle's message names the URL, never the token.
            throw new ConnectionException($method . ' ' . $path . ': ' . $e->getMessage(), 0, $e);
        }
        if ($response->failed()) {
            throw ApiException::fromResponse($response->status(), $response->body(), $response->header('Retry-After') ?: null);
        }

        return $response;
    }

    /**
     * `?a=1&b=true`: booleans as the services read them, null values left out.
     *
     * @param array<string, scalar|null> $query
     */
    private static function queryString(array $query): string
    {
        $pairs = [];
        foreach ($query as $name => $value) {
            if ($value === null) {
                continue;
            }
            $text = is_bool($value) ? ($value ? 'true' : 'false') : (string) $value;
            $pairs[] = rawurlencode((string) $name) . '=' . rawurlencode($text);
        }

        return $pairs === [] ? '' : '?' . implode('&', $pairs);
    }

    /** A path segment: a slug, an id or an employee id, escaped. */
    public static function segment(string|int $value): string
    {
        return rawurlencode((string) $value);
    }

    public function __debugInfo(): array
    {
        return ['sub' => $this->sub, 'role' => $this->role, 'companies' => $this->companies, 'urls' => $this->urls];
    }
}
