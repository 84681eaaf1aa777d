<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Webhooks;

use AttendanceBridge\Laravel\Exceptions\ConfigurationException;

/**
 * Verifies Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature`
 * holds space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` entries, one per secret
 * the sender signs with; one matching any of our secrets is enough, so during a rotation both
 * the old and the new secret are configured. A timestamp further than the tolerance from now,
 * in the past or the future, is refused: a captured webhook cannot be replayed later.
 */
final class WebhookVerifier
{
    public const HEADER_ID = 'webhook-id';
    public const HEADER_TIMESTAMP = 'webhook-timestamp';
    public const HEADER_SIGNATURE = 'webhook-signature';

    /** @var list<string> the raw HMAC keys */
    private array $keys;

    /**
     * @param list<string> $secrets `whsec_<base64>` (or the base64 alone)
     */
    public function __construct(array $secrets, private readonly int $toleranceSeconds = 300)
    {
        $this->keys = array_map(self::keyOf(...), array_values($secrets));
    }

    /** The secrets of a setting: comma- or space-separated. */
    public static function parseSecrets(string|array|null $setting): array
    {
        if (is_array($setting)) {
            return array_values(array_filter(array_map('trim', $setting), fn ($s) => $s !== ''));
        }

        return array_values(array_filter(preg_split('/[\s,]+/', (string) $setting) ?: [], fn ($s) => $s !== ''));
    }

    private static function keyOf(string $secret): string
    {
        $encoded = str_starts_with($secret, 'whsec_') ? substr($secret, 6) : $secret;
        $key = base64_decode($encoded, true);
        if ($key === false || $key === '') {
            throw new ConfigurationException('a webhook secret is not whsec_ followed by base64 (ATTENDANCE_BRIDGE_WEBHOOK_SECRETS)');
        }

        return $key;
    }

    /** `v1,<base64 signature>` of the message with the first secret (for tests and tools). */
    public function sign(string $id, int $timestamp, string $body): string
    {
        if ($this->keys === []) {
            throw new ConfigurationException('no webhook secret to sign with');
        }

        return 'v1,' . base64_encode(hash_hmac('sha256', $id . '.' . $timestamp . '.' . $body, $this->keys[0], true));
    }

    /**
     * Throws a WebhookVerificationException unless the body is the bridge's, signed within the
     * tolerance of $now (seconds since the epoch; the clock when null).
     */
    public function verify(string $body, ?string $id, ?string $timestamp, ?string $signature, ?int $now = null): void
    {
        if ($this->keys === []) {
            throw new WebhookVerificationException('no_secrets', 'no webhook secret is configured');
        }
        if ($id === null || $id === '' || $timestamp === null || $timestamp === '' || $signature === null || $signature === '') {
            throw new WebhookVerificationException('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature are required');
        }
        if (preg_match('/^\d{1,12}$/', trim($timestamp)) !== 1) {
            throw new WebhookVerificationException('invalid_timestamp', 'webhook-timestamp is not seconds since the epoch');
        }
        $sent = (int) trim($timestamp);
        if (abs(($now ?? time()) - $sent) > $this->toleranceSeconds) {
            throw new WebhookVerificationException('timestamp_out_of_tolerance', 'webhook-timestamp is too far from now');
        }
        $message = $id . '.' . $sent . '.' . $body;
        $expected = array_map(fn (string $key) => hash_hmac('sha256', $message, $key, true), $this->keys);
        foreach (preg_split('/\s+/', trim($signature)) ?: [] as $entry) {
            [$version, $encoded] = array_pad(explode(',', $entry, 2), 2, '');
            if ($version !== 'v1') {
                continue;
            }
            $given = base64_decode($encoded, true);
            if ($given === false) {
                continue;
            }
            foreach ($expected as $mac) {
                if (hash_equals($mac, $given)) {
                    return;
                }
            }
        }
        throw new WebhookVerificationException('invalid_signature', 'no webhook-signature matches a configured secret');
    }

    public function __debugInfo(): array
    {
        return ['secrets' => count($this->keys), 'tolerance' => $this->toleranceSeconds];
    }
}
