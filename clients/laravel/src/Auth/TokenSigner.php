<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Auth;

use AttendanceBridge\Laravel\Exceptions\ConfigurationException;
use InvalidArgumentException;

/**
 * Signs the tokens the services accept from the portal: EdDSA (Ed25519) JWTs with header
 * {"alg":"EdDSA","typ":"JWT","kid":…} and the claims sub, role, exp and, when given, companies
 * and team. Never `aud` (the services refuse a token that has one) nor role `service` (the
 * portal's key may not sign it).
 */
final class TokenSigner
{
    public const ROLES = ['viewer', 'operator', 'admin'];

    /** The PKCS#8 DER of an Ed25519 private key is this prefix and the 32-byte seed. */
    private const PKCS8_PREFIX = "\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20";

    /** libsodium's 64-byte secret key (seed and public key). */
    private string $secretKey;

    private function __construct(private readonly string $kid, string $seed, private readonly int $ttl)
    {
        if ($kid === '') {
            throw new ConfigurationException('the signing key has no key id (ATTENDANCE_BRIDGE_KEY_ID)');
        }
        if ($ttl < 1) {
            throw new ConfigurationException('the token lifetime must be at least one second');
        }
        $this->secretKey = sodium_crypto_sign_secretkey(sodium_crypto_sign_seed_keypair($seed));
    }

    /**
     * From the package's `signing` configuration: `kid`, and `key_file` or `key`.
     *
     * @param array{kid?: ?string, key_file?: ?string, key?: ?string, ttl?: int|string|null} $config
     */
    public static function fromConfig(array $config): self
    {
        $file = (string) ($config['key_file'] ?? '');
        $text = (string) ($config['key'] ?? '');
        if ($file !== '') {
            if (!is_readable($file)) {
                throw new ConfigurationException('the signing key file cannot be read (ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE)');
            }
            $text = (string) file_get_contents($file);
        } elseif ($text === '') {
            throw new ConfigurationException(
                'no signing key: set ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE (or ATTENDANCE_BRIDGE_PRIVATE_KEY) and ATTENDANCE_BRIDGE_KEY_ID'
            );
        }

        return self::fromKey((string) ($config['kid'] ?? ''), $text, (int) ($config['ttl'] ?? 300));
    }

    /**
     * $key: a PEM private key (PKCS#8, as `openssl genpkey -algorithm ed25519` writes it), base64
     * of its DER or of the 32-byte seed, or `kid:base64(…)`, whose kid is used when $kid is ''.
     */
    public static function fromKey(string $kid, string $key, int $ttl = 300): self
    {
        $key = trim($key);
        if (!str_starts_with($key, '-----') && preg_match('/^([^:\s]+):(\S+)$/', $key, $m) === 1) {
            $kid = $kid !== '' ? $kid : $m[1];
            $key = $m[2];
        }
        if (str_starts_with($key, '-----')) {
            if (!str_contains($key, 'BEGIN PRIVATE KEY')) {
                throw new ConfigurationException('the signing key is not a PKCS#8 PEM private key (BEGIN PRIVATE KEY)');
            }
            $key = (string) preg_replace('/-----[^-]+-----|\s+/', '', $key);
        }
        $bytes = base64_decode($key, true);
        if ($bytes === false) {
            throw new ConfigurationException('the signing key is neither PEM nor base64');
        }

        return new self($kid, self::seedOf($bytes), $ttl);
    }

    /** The 32-byte seed of a PKCS#8 DER Ed25519 key, or the seed itself. */
    private static function seedOf(string $bytes): string
    {
        if (strlen($bytes) === SODIUM_CRYPTO_SIGN_SEEDBYTES) {
            return $bytes;
        }
        if (strlen($bytes) === 48 && str_starts_with($bytes, self::PKCS8_PREFIX)) {
            return substr($bytes, 16);
        }
        throw new ConfigurationException('the signing key is not an Ed25519 private key');
    }

    public function kid(): string
    {
        return $this->kid;
    }

    /** The public half, as the services' BRIDGE_TRUSTED_KEYS item `kid:portal:base64(key)`. */
    public function trustedKeyItem(): string
    {
        return $this->kid . ':portal:' . base64_encode(sodium_crypto_sign_publickey_from_secretkey($this->secretKey));
    }

    /**
     * A token for $sub acting as $role. $companies: the slugs the token may see and act on, null
     * for every company, [] for none. $ttl: seconds, the configured lifetime when null.
     *
     * @param list<string>|null $companies
     */
    public function sign(string $sub, string $role, ?array $companies = null, ?string $team = null, ?int $ttl = null, ?int $now = null): string
    {
        if (trim($sub) === '') {
            throw new InvalidArgumentException('a token names who acts: $sub is empty');
        }
        if (!in_array($role, self::ROLES, true)) {
            throw new InvalidArgumentException('the portal signs role viewer, operator or admin, not ' . json_encode($role));
        }
        $claims = ['sub' => $sub, 'role' => $role, 'exp' => ($now ?? time()) + ($ttl ?? $this->ttl)];
        if ($companies !== null) {
            $claims['companies'] = array_values(array_map('strval', $companies));
        }
        if ($team !== null) {
            $claims['team'] = $team;
        }
        $header = ['alg' => 'EdDSA', 'typ' => 'JWT', 'kid' => $this->kid];
        $input = self::base64url(self::json($header)) . '.' . self::base64url(self::json($claims));

        return $input . '.' . self::base64url(sodium_crypto_sign_detached($input, $this->secretKey));
    }

    private static function json(array $value): string
    {
        return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
    }

    private static function base64url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }

    /** Keeps the key out of var_dump, dd() and logs. */
    public function __debugInfo(): array
    {
        return ['kid' => $this->kid, 'ttl' => $this->ttl];
    }
}
