<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Unit;

use AttendanceBridge\Laravel\AttendanceBridge;
use AttendanceBridge\Laravel\Exceptions\ApiException;
use AttendanceBridge\Laravel\Exceptions\ConflictException;
use AttendanceBridge\Laravel\Exceptions\ConnectionException;
use AttendanceBridge\Laravel\Exceptions\NotFoundException;
use AttendanceBridge\Laravel\Exceptions\ServerException;
use AttendanceBridge\Laravel\Exceptions\ServiceUnavailableException;
use AttendanceBridge\Laravel\Exceptions\UnprocessableEntityException;
use AttendanceBridge\Laravel\Facades\AttendanceBridge as Bridge;
use AttendanceBridge\Laravel\Resources\Imports;
use AttendanceBridge\Laravel\Tests\LaravelApp;
use Illuminate\Http\Client\Request;
use Illuminate\Support\Facades\Http;
use PHPUnit\Framework\TestCase;

/** The client against Laravel's faked HTTP client: what it sends, and what it makes of errors. */
final class ClientTest extends TestCase
{
    private string $seed;

    protected function setUp(): void
    {
        $this->seed = random_bytes(32);
        LaravelApp::make([
            'urls' => ['config' => 'http://config.test', 'import' => 'http://import.test/', 'sync' => 'http://sync.test'],
            'signing' => ['kid' => 'portal-test', 'key' => base64_encode($this->seed), 'ttl' => 120],
        ]);
    }

    public function testEveryCallCarriesAFreshTokenOfTheUser(): void
    {
        Http::fake(['config.test/*' => Http::response([['slug' => 'advline']])]);
        $companies = Bridge::as('jane.doe@corp.example', 'viewer', ['advline'])->companies()->list();
        self::assertSame([['slug' => 'advline']], $companies);

        Http::assertSent(function (Request $request) {
            self::assertSame('GET', $request->method());
            self::assertSame('http://config.test/v1/companies', $request->url());
            $token = substr($request->header('Authorization')[0], strlen('Bearer '));
            [$header, $claims, $signature] = explode('.', $token);
            $public = sodium_crypto_sign_publickey(sodium_crypto_sign_seed_keypair($this->seed));
            self::assertTrue(sodium_crypto_sign_verify_detached(base64_decode(strtr($signature, '-_', '+/')), "$header.$claims", $public));
            $claims = json_decode(base64_decode(strtr($claims, '-_', '+/')), true);
            self::assertSame(['jane.doe@corp.example', 'viewer', ['advline']], [$claims['sub'], $claims['role'], $claims['companies']]);
            self::assertEqualsWithDelta(time() + 120, $claims['exp'], 5);

            return true;
        });
    }

    public function testUploadSendsTheFileAsItCameWithItsOptions(): void
    {
        Http::fake(['import.test/*' => Http::response(['id' => 3, 'status' => 'completed'], 201)]);
        $import = Bridge::as('jane', 'operator')->imports()->upload("Employee ID,Name\n", 'day 1.csv', dryRun: true, hold: true, dateOrder: 'mdy');
        self::assertSame(3, $import['id']);
        Http::assertSent(function (Request $request) {
            self::assertSame('POST', $request->method());
            self::assertSame('http://import.test/v1/imports?filename=day%201.csv&dry_run=true&hold=true&date_order=mdy', $request->url());
            self::assertSame(['text/csv'], $request->header('Content-Type'));
            self::assertSame("Employee ID,Name\n", $request->body());

            return true;
        });
    }

    public function testProblemsBecomeTypedExceptionsWithTheirCode(): void
    {
        $problem = fn (int $status, string $code, array $extra = []) => Http::response(
            ['type' => "urn:attendance-bridge:problem:$code", 'title' => 't', 'status' => $status, 'code' => $code, 'detail' => "detail of $code"] + $extra,
            $status,
            ['Content-Type' => 'application/problem+json'] + ($status === 503 ? ['Retry-After' => '7'] : []),
        );
        Http::fake([
            'config.test/v1/companies/ghost' => $problem(404, 'not_found'),
            'config.test/v1/companies' => $problem(409, 'slug_taken'),
            'config.test/v1/companies/advline/bayzat-config' => $problem(422, 'connection_test_failed', ['connection_test' => ['result' => 'invalid_key']]),
            'sync.test/*' => $problem(503, 'database_unavailable'),
            'import.test/*' => Http::response('<html>bad gateway</html>', 502),
        ]);
        $bridge = Bridge::as('jane', 'admin');
        $cases = [
            [fn () => $bridge->companies()->get('ghost'), NotFoundException::class, 404, 'not_found'],
            [fn () => $bridge->companies()->create(['slug' => 'advline']), ConflictException::class, 409, 'slug_taken'],
            [fn () => $bridge->bayzat()->configure('advline', ['api_key' => 'bz_wrong']), UnprocessableEntityException::class, 422, 'connection_test_failed'],
            [fn () => $bridge->sync()->health('advline'), ServiceUnavailableException::class, 503, 'database_unavailable'],
            [fn () => $bridge->imports()->get(1), ServerException::class, 502, 'http_502'],
        ];
        foreach ($cases as [$call, $class, $status, $code]) {
            try {
                $call();
                self::fail("no $class");
            } catch (ApiException $e) {
                self::assertInstanceOf($class, $e);
                self::assertSame([$status, $code], [$e->status(), $e->code()]);
                self::assertStringNotContainsString('Bearer', $e->getMessage());
            }
        }
        try {
            $bridge->bayzat()->configure('advline', ['api_key' => 'bz_wrong']);
        } catch (UnprocessableEntityException $e) {
            self::assertSame('invalid_key', $e->problem()['connection_test']['result']);
            self::assertSame('422 connection_test_failed: detail of connection_test_failed', $e->getMessage());
        }
        try {
            $bridge->sync()->health('advline');
        } catch (ServiceUnavailableException $e) {
            self::assertSame(7, $e->retryAfter());
        }
    }

    /** The webhook endpoint calls go to config-service (tests/Integration/WebhooksTest.php runs them for real). */
    public function testTheWebhookEndpointCallsGoToConfigService(): void
    {
        Http::fake(['config.test/*' => Http::response(['id' => 1])]);
        $webhooks = Bridge::as('jane', 'admin')->webhooks();
        $webhooks->list();
        $webhooks->create(['url' => 'https://portal.example/attendance-bridge/webhooks', 'event_types' => ['import.completed']]);
        $webhooks->get(1);
        $webhooks->update(1, ['enabled' => false]);
        $webhooks->delete(1);
        $webhooks->deliveries(1, ['limit' => 20, 'before' => 'dl/7']);
        $webhooks->replay(1, 'dl/7');

        $sent = array_map(fn (array $pair) => $pair[0]->method() . ' ' . $pair[0]->url(), Http::recorded()->all());
        self::assertSame([
            'GET http://config.test/v1/webhooks',
            'POST http://config.test/v1/webhooks',
            'GET http://config.test/v1/webhooks/1',
            'PATCH http://config.test/v1/webhooks/1',
            'DELETE http://config.test/v1/webhooks/1',
            'GET http://config.test/v1/webhooks/1/deliveries?limit=20&before=dl%2F7',
            'POST http://config.test/v1/webhooks/1/deliveries/dl%2F7/replay',
        ], $sent);
        self::assertSame(['enabled' => false], Http::recorded()[3][0]->data());
    }

    public function testRotatingASecretPostsToItsEndpointAndAnswersTheNewSecret(): void
    {
        Http::fake(['config.test/v1/webhooks/7/secret/rotate' => Http::response([
            'secret' => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
            'previous_secrets_expire_at' => '2026-12-06T09:00:00Z',
        ])]);
        $rotated = Bridge::as('jane', 'admin')->webhooks()->rotateSecret(7);
        self::assertSame('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', $rotated['secret']);
        self::assertSame('2026-12-06T09:00:00Z', $rotated['previous_secrets_expire_at']);
        Http::assertSent(fn (Request $request) => $request->method() === 'POST'
            && $request->url() === 'http://config.test/v1/webhooks/7/secret/rotate'
            && $request->hasHeader('Authorization'));
        Http::assertSentCount(1);
    }

    public function testAServiceThatDoesNotAnswerIsAConnectionException(): void
    {
        $bridge = AttendanceBridge::fromConfig([
            'urls' => ['config' => 'http://127.0.0.1:9'],
            'signing' => ['kid' => 'k', 'key' => base64_encode($this->seed)],
            'timeout' => 2,
        ]);
        $this->expectException(ConnectionException::class);
        $bridge->as('jane', 'viewer')->companies()->list();
    }

    public function testAnImportIsSettledWhenNothingIsOnItsWay(): void
    {
        self::assertFalse(Imports::isSettled(['status' => 'processing', 'progress' => []]));
        self::assertFalse(Imports::isSettled(['status' => 'completed', 'progress' => ['advline' => ['delivered' => 3, 'sending' => 1]]]));
        self::assertTrue(Imports::isSettled(['status' => 'completed', 'progress' => ['advline' => ['delivered' => 8, 'rejected' => 2], 'dormant' => ['held' => 2]]]));
        self::assertTrue(Imports::isSettled(['status' => 'failed', 'progress' => []]));
    }
}
