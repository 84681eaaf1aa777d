<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel;

use AttendanceBridge\Laravel\Auth\TokenSigner;
use Illuminate\Http\Client\Factory as HttpFactory;

/**
 * The entry point (the AttendanceBridge facade): a Client acting as one person of the portal.
 * The services record $sub in their audit log and allow what $role allows, for $companies only
 * when given.
 */
final class AttendanceBridge
{
    private ?TokenSigner $signer = null;

    /**
     * @param array{config?: ?string, import?: ?string, sync?: ?string} $urls
     * @param array{kid?: ?string, key_file?: ?string, key?: ?string, ttl?: int|string|null} $signing
     */
    public function __construct(
        private readonly HttpFactory $http,
        private readonly array $urls,
        private readonly array $signing,
        private readonly int $timeout = 60,
    ) {
    }

    /** From the package's configuration array (config('attendance-bridge')). */
    public static function fromConfig(array $config, ?HttpFactory $http = null): self
    {
        return new self($http ?? new HttpFactory(), (array) ($config['urls'] ?? []), (array) ($config['signing'] ?? []), (int) ($config['timeout'] ?? 60));
    }

    /**
     * A client acting as $sub (the user's e-mail or id) with $role: 'viewer', 'operator' or
     * 'admin'. $companies: the company slugs the user may see and act on; null for every company.
     *
     * @param list<string>|null $companies
     */
    public function as(string $sub, string $role, ?array $companies = null, ?string $team = null): Client
    {
        return new Client($this->http, $this->signer(), $this->urls, $sub, $role, $companies, $team, $this->timeout);
    }

    /** The signer, read from the configuration on first use. */
    public function signer(): TokenSigner
    {
        return $this->signer ??= TokenSigner::fromConfig($this->signing);
    }
}
