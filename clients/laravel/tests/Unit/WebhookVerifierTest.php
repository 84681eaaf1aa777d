<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Unit;

use AttendanceBridge\Laravel\Exceptions\ConfigurationException;
use AttendanceBridge\Laravel\Webhooks\WebhookVerificationException;
use AttendanceBridge\Laravel\Webhooks\WebhookVerifier;
use PHPUnit\Framework\TestCase;

final class WebhookVerifierTest extends TestCase
{
    /**
     * The Standard Webhooks specification's reference vector (its libraries' TestWebhookSign,
     * e.g. libraries/go/webhook_test.go in github.com/standard-webhooks/standard-webhooks).
     */
    private const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    private const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    private const TIMESTAMP = 1614265330;
    private const BODY = '{"test": 2432232314}';
    private const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    /** Another signature of the same length, matching nothing (also from the spec's tests). */
    private const WRONG = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';

    private static function refusal(callable $verify): string
    {
        try {
            $verify();
        } catch (WebhookVerificationException $e) {
            return $e->reason;
        }
        self::fail('verified');
    }

    public function testTheSpecificationsVectorSignsAndVerifies(): void
    {
        $verifier = new WebhookVerifier([self::SECRET]);
        self::assertSame(self::SIGNATURE, $verifier->sign(self::ID, self::TIMESTAMP, self::BODY));
        $verifier->verify(self::BODY, self::ID, (string) self::TIMESTAMP, self::SIGNATURE, self::TIMESTAMP);
        // The secret without its prefix is the same secret.
        (new WebhookVerifier(['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']))
            ->verify(self::BODY, self::ID, (string) self::TIMESTAMP, self::SIGNATURE, self::TIMESTAMP);
        $this->addToAssertionCount(2);
    }

    public function testOneMatchingEntryOfSeveralIsEnough(): void
    {
        $verifier = new WebhookVerifier([self::SECRET]);
        $header = implode(' ', [self::WRONG, 'v2,' . substr(self::SIGNATURE, 3), self::SIGNATURE, self::WRONG]);
        $verifier->verify(self::BODY, self::ID, (string) self::TIMESTAMP, $header, self::TIMESTAMP);
        $this->addToAssertionCount(1);
    }

    public function testDuringARotationEitherSecretVerifies(): void
    {
        $new = 'whsec_' . base64_encode(random_bytes(32));
        $both = new WebhookVerifier(WebhookVerifier::parseSecrets(self::SECRET . ', ' . $new));
        $signedWithNew = (new WebhookVerifier([$new]))->sign(self::ID, self::TIMESTAMP, self::BODY);
        $both->verify(self::BODY, self::ID, (string) self::TIMESTAMP, $signedWithNew, self::TIMESTAMP);
        $both->verify(self::BODY, self::ID, (string) self::TIMESTAMP, self::SIGNATURE, self::TIMESTAMP);
        // Once the old secret is removed, what it signed is refused.
        self::assertSame('invalid_signature', self::refusal(fn () => (new WebhookVerifier([$new]))
            ->verify(self::BODY, self::ID, (string) self::TIMESTAMP, self::SIGNATURE, self::TIMESTAMP)));
    }

    public function testATamperedMessageIsRefused(): void
    {
        $verifier = new WebhookVerifier([self::SECRET]);
        $ts = (string) self::TIMESTAMP;
        $now = self::TIMESTAMP;
        self::assertSame('invalid_signature', self::refusal(fn () => $verifier->verify('{"test": 2432232315}', self::ID, $ts, self::SIGNATURE, $now)));
        self::assertSame('invalid_signature', self::refusal(fn () => $verifier->verify(self::BODY, 'msg_other', $ts, self::SIGNATURE, $now)));
        self::assertSame('invalid_signature', self::refusal(fn () => $verifier->verify(self::BODY, self::ID, (string) ($now + 1), self::SIGNATURE, $now)));
        self::assertSame('invalid_signature', self::refusal(fn () => $verifier->verify(self::BODY, self::ID, $ts, self::WRONG, $now)));
        self::assertSame('invalid_signature', self::refusal(fn () => $verifier->verify(self::BODY, self::ID, $ts, 'v1,not base64!', $now)));
        self::assertSame('invalid_signature', self::refusal(fn () => $verifier->verify(self::BODY, self::ID, $ts, 'v2,' . substr(self::SIGNATURE, 3), $now)));
    }

    public function testTimestampsMoreThanFiveMinutesAwayAreRefused(): void
    {
        $verifier = new WebhookVerifier([self::SECRET]);
        $at = fn (int $now) => $verifier->verify(self::BODY, self::ID, (string) self::TIMESTAMP, self::SIGNATURE, $now);
        $at(self::TIMESTAMP + 300);
        $at(self::TIMESTAMP - 300);
        self::assertSame('timestamp_out_of_tolerance', self::refusal(fn () => $at(self::TIMESTAMP + 301)));
        self::assertSame('timestamp_out_of_tolerance', self::refusal(fn () => $at(self::TIMESTAMP - 301)));
        self::assertSame('timestamp_out_of_tolerance', self::refusal(fn () => $verifier->verify(self::BODY, self::ID, (string) self::TIMESTAMP, self::SIGNATURE)));
        self::assertSame('invalid_timestamp', self::refusal(fn () => $verifier->verify(self::BODY, self::ID, '2021-02-25T15:02:10Z', self::SIGNATURE, self::TIMESTAMP)));
    }

    public function testMissingHeadersAndMissingSecretsAreRefused(): void
    {
        $verifier = new WebhookVerifier([self::SECRET]);
        $ts = (string) self::TIMESTAMP;
        foreach ([[null, $ts, self::SIGNATURE], [self::ID, null, self::SIGNATURE], [self::ID, $ts, null], [self::ID, $ts, '']] as [$id, $t, $sig]) {
            self::assertSame('missing_headers', self::refusal(fn () => $verifier->verify(self::BODY, $id, $t, $sig, self::TIMESTAMP)));
        }
        self::assertSame('no_secrets', self::refusal(fn () => (new WebhookVerifier([]))->verify(self::BODY, self::ID, $ts, self::SIGNATURE, self::TIMESTAMP)));
    }

    public function testABadSecretIsAConfigurationErrorThatDoesNotShowIt(): void
    {
        try {
            new WebhookVerifier(['whsec_!!not-base64!!']);
            self::fail('accepted');
        } catch (ConfigurationException $e) {
            self::assertStringContainsString('ATTENDANCE_BRIDGE_WEBHOOK_SECRETS', $e->getMessage());
            self::assertStringNotContainsString('not-base64', $e->getMessage());
        }
        self::assertStringNotContainsString('MfKQ9r8', print_r(new WebhookVerifier([self::SECRET]), true));
    }
}
