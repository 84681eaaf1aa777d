<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Unit;

use AttendanceBridge\Laravel\Auth\TokenSigner;
use AttendanceBridge\Laravel\Exceptions\ConfigurationException;
use InvalidArgumentException;
use PHPUnit\Framework\TestCase;

final class TokenSignerTest extends TestCase
{
    /** RFC 8032, section 7.1, test 1: the secret key (seed) and its public key. */
    private const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
    private const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

    private static function pem(string $seed): string
    {
        $der = hex2bin('302e020100300506032b657004220420') . $seed;

        return "-----BEGIN PRIVATE KEY-----\n" . chunk_split(base64_encode($der), 64, "\n") . "-----END PRIVATE KEY-----\n";
    }

    /** @return array{0: array, 1: array, 2: string, 3: string} header, claims, signed input, signature */
    private static function decode(string $token): array
    {
        $parts = explode('.', $token);
        self::assertCount(3, $parts);
        $raw = fn (string $part) => base64_decode(strtr($part, '-_', '+/'), true);
        foreach ($parts as $part) {
            self::assertMatchesRegularExpression('/^[A-Za-z0-9_-]+$/', $part, 'base64url without padding');
        }

        return [json_decode($raw($parts[0]), true), json_decode($raw($parts[1]), true), $parts[0] . '.' . $parts[1], $raw($parts[2])];
    }

    public function testSignsAnEd25519JwtTheServicesVerifyWithThePublicKey(): void
    {
        $seed = hex2bin(self::RFC8032_SEED);
        $signer = TokenSigner::fromKey('portal-2026-12', self::pem($seed), 600);
        $token = $signer->sign('jane.doe@corp.example', 'operator', ['advline', 'clarastars'], 'payroll', null, 1_700_000_000);

        [$header, $claims, $input, $signature] = self::decode($token);
        self::assertSame(['alg' => 'EdDSA', 'typ' => 'JWT', 'kid' => 'portal-2026-12'], $header);
        self::assertSame(
            ['sub' => 'jane.doe@corp.example', 'role' => 'operator', 'exp' => 1_700_000_600, 'companies' => ['advline', 'clarastars'], 'team' => 'payroll'],
            $claims,
        );
        self::assertTrue(sodium_crypto_sign_verify_detached($signature, $input, hex2bin(self::RFC8032_PUBLIC)));
        self::assertSame('portal-2026-12:portal:' . base64_encode(hex2bin(self::RFC8032_PUBLIC)), $signer->trustedKeyItem());
    }

    public function testAbsentCompaniesMeansEveryCompanyAndNoAudienceIsEverSet(): void
    {
        $signer = TokenSigner::fromKey('k1', base64_encode(random_bytes(32)));
        [, $claims] = self::decode($signer->sign('admin@corp.example', 'admin'));
        self::assertSame(['sub', 'role', 'exp'], array_keys($claims));
        self::assertEqualsWithDelta(time() + 300, $claims['exp'], 5);

        [, $none] = self::decode($signer->sign('nobody@corp.example', 'viewer', []));
        self::assertSame([], $none['companies']);
    }

    public function testReadsEveryKeyFormatTheBridgeWrites(): void
    {
        $seed = hex2bin(self::RFC8032_SEED);
        $der = hex2bin('302e020100300506032b657004220420') . $seed;
        $file = tempnam(sys_get_temp_dir(), 'portal-key');
        file_put_contents($file, self::pem($seed));
        try {
            $signers = [
                TokenSigner::fromConfig(['kid' => 'k', 'key_file' => $file]),
                TokenSigner::fromConfig(['kid' => 'k', 'key' => self::pem($seed)]),
                TokenSigner::fromConfig(['kid' => 'k', 'key' => base64_encode($der)]),
                TokenSigner::fromConfig(['kid' => 'k', 'key' => base64_encode($seed)]),
                // config-service generate-key's and .run/keys/portal.key's `kid:base64(PKCS#8 DER)`.
                TokenSigner::fromConfig(['key' => 'k:' . base64_encode($der)]),
            ];
        } finally {
            unlink($file);
        }
        foreach ($signers as $signer) {
            self::assertSame('k:portal:' . base64_encode(hex2bin(self::RFC8032_PUBLIC)), $signer->trustedKeyItem());
        }
    }

    public function testRefusesUnusableKeysNamingTheSettingNotTheKey(): void
    {
        $cases = [
            [['kid' => 'k'], 'ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE'],
            [['kid' => 'k', 'key_file' => '/nonexistent/portal.pem'], 'ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE'],
            [['kid' => 'k', 'key' => base64_encode(random_bytes(31))], 'not an Ed25519 private key'],
            [['kid' => 'k', 'key' => "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----"], 'BEGIN PRIVATE KEY'],
            [['key' => base64_encode(random_bytes(32))], 'ATTENDANCE_BRIDGE_KEY_ID'],
        ];
        foreach ($cases as [$config, $named]) {
            try {
                TokenSigner::fromConfig($config);
                self::fail('accepted ' . json_encode($config));
            } catch (ConfigurationException $e) {
                self::assertStringContainsString($named, $e->getMessage());
                if (isset($config['key'])) {
                    self::assertStringNotContainsString($config['key'], $e->getMessage());
                }
            }
        }
    }

    public function testThePortalNeverSignsTheServiceRoleNorAnEmptySubject(): void
    {
        $signer = TokenSigner::fromKey('k', base64_encode(random_bytes(32)));
        foreach ([['sync-service', 'service'], ['jane', 'superuser'], [' ', 'viewer']] as [$sub, $role]) {
            try {
                $signer->sign($sub, $role);
                self::fail("signed $sub as $role");
            } catch (InvalidArgumentException) {
                self::addToAssertionCount(1);
            }
        }
    }

    public function testDumpingTheSignerShowsNoKey(): void
    {
        $seed = random_bytes(32);
        $signer = TokenSigner::fromKey('k', base64_encode($seed));
        $dump = print_r($signer, true) . var_export($signer->__debugInfo(), true);
        self::assertStringNotContainsString(base64_encode($seed), $dump);
        self::assertStringContainsString('k', $dump);
    }
}
