<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Unit;

use AttendanceBridge\Laravel\Events\AnyWebhook;
use AttendanceBridge\Laravel\Events\CompanySyncPaused;
use AttendanceBridge\Laravel\Events\ImportCompleted;
use AttendanceBridge\Laravel\Events\WebhookEvent;
use AttendanceBridge\Laravel\Events\WebhookReceived;
use AttendanceBridge\Laravel\Tests\LaravelApp;
use AttendanceBridge\Laravel\Webhooks\WebhookVerifier;
use Illuminate\Foundation\Application;
use Illuminate\Http\Request;
use PHPUnit\Framework\TestCase;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpKernel\Exception\NotFoundHttpException;

/** The webhook route as the service provider registers it, through Laravel's router. */
final class WebhookRouteTest extends TestCase
{
    private const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

    private Application $app;
    /** @var list<WebhookEvent> */
    private array $received = [];

    protected function setUp(): void
    {
        $this->app = LaravelApp::make(['webhooks.secrets' => 'whsec_' . base64_encode(random_bytes(32)) . ',' . self::SECRET]);
        $this->app['events']->listen(AnyWebhook::class, fn (WebhookEvent $event) => $this->received[] = $event);
    }

    private function post(string $body, array $headers, string $path = '/attendance-bridge/webhooks'): Response
    {
        $server = [];
        foreach ($headers as $name => $value) {
            $server['HTTP_' . strtoupper(str_replace('-', '_', $name))] = $value;
        }
        $server['CONTENT_TYPE'] = 'application/json';

        return LaravelApp::handle($this->app, Request::create($path, 'POST', [], [], [], $server, $body));
    }

    private static function signed(string $body, string $id = 'msg_1', ?int $timestamp = null, string $secret = self::SECRET): array
    {
        $timestamp ??= time();

        return [
            'webhook-id' => $id,
            'webhook-timestamp' => (string) $timestamp,
            'webhook-signature' => (new WebhookVerifier([$secret]))->sign($id, $timestamp, $body),
        ];
    }

    public function testASignedWebhookDispatchesItsEvent(): void
    {
        $completed = [];
        $this->app['events']->listen(ImportCompleted::class, function (ImportCompleted $event) use (&$completed) {
            $completed[] = $event->data['import_id'];
        });
        $body = json_encode(['type' => 'import.completed', 'timestamp' => '2026-12-05T09:00:00Z', 'data' => ['import_id' => 7, 'progress' => ['advline' => ['delivered' => 8]]]]);
        $response = $this->post($body, self::signed($body, 'msg_import_7'));
        self::assertSame([7], $completed);

        self::assertSame(204, $response->getStatusCode());
        self::assertCount(1, $this->received);
        $event = $this->received[0];
        self::assertInstanceOf(ImportCompleted::class, $event);
        self::assertSame('msg_import_7', $event->id);
        self::assertSame('import.completed', $event->type);
        self::assertSame('2026-12-05T09:00:00Z', $event->timestamp);
        self::assertSame(7, $event->data['import_id']);
    }

    public function testEachTypeHasItsEventAndAnUnknownOneIsStillDelivered(): void
    {
        foreach (WebhookEvent::TYPES as $type => $class) {
            $body = json_encode(['type' => $type, 'timestamp' => '2026-12-05T09:00:00Z', 'data' => ['company' => 'advline']]);
            self::assertSame(204, $this->post($body, self::signed($body))->getStatusCode());
            self::assertInstanceOf($class, array_pop($this->received), $type);
        }
        self::assertTrue(class_exists(CompanySyncPaused::class));

        $body = json_encode(['type' => 'clock.renamed', 'data' => []]);
        self::assertSame(204, $this->post($body, self::signed($body))->getStatusCode());
        self::assertInstanceOf(WebhookReceived::class, $this->received[0]);
        self::assertSame('clock.renamed', $this->received[0]->type);
    }

    public function testABadSignatureIsRefusedAndDispatchesNothing(): void
    {
        $body = json_encode(['type' => 'import.completed', 'data' => ['import_id' => 7]]);
        $other = 'whsec_' . base64_encode(random_bytes(32));
        $tampered = str_replace('7', '8', $body);
        foreach ([
            [$body, self::signed($body, 'msg_1', null, $other)],
            [$tampered, self::signed($body)],
            [$body, ['webhook-id' => 'msg_1', 'webhook-timestamp' => (string) time()]],
        ] as [$sent, $headers]) {
            $response = $this->post($sent, $headers);
            self::assertSame(401, $response->getStatusCode());
            self::assertSame('application/problem+json', $response->headers->get('Content-Type'));
            self::assertContains(json_decode($response->getContent(), true)['code'], ['invalid_signature', 'missing_headers']);
        }
        self::assertSame([], $this->received);
    }

    public function testAWebhookOlderThanFiveMinutesIsRefused(): void
    {
        $body = json_encode(['type' => 'import.completed', 'data' => ['import_id' => 7]]);
        $response = $this->post($body, self::signed($body, 'msg_1', time() - 301));
        self::assertSame(401, $response->getStatusCode());
        self::assertSame('timestamp_out_of_tolerance', json_decode($response->getContent(), true)['code']);
        self::assertSame(204, $this->post($body, self::signed($body, 'msg_1', time() - 240))->getStatusCode());
        self::assertCount(1, $this->received);
    }

    public function testASignedBodyThatIsNotAnEventIsABadRequest(): void
    {
        $body = '["not", "an", "event"]';
        $response = $this->post($body, self::signed($body));
        self::assertSame(400, $response->getStatusCode());
        self::assertSame('invalid_payload', json_decode($response->getContent(), true)['code']);
        self::assertSame([], $this->received);
    }

    public function testThePathIsConfigurableAndWithoutSecretsThereIsNoRoute(): void
    {
        $this->app = LaravelApp::make(['webhooks.secrets' => self::SECRET, 'webhooks.path' => '/hooks/bridge']);
        $body = json_encode(['type' => 'batch.completed', 'data' => []]);
        self::assertSame(204, $this->post($body, self::signed($body), '/hooks/bridge')->getStatusCode());
        self::assertSame('attendance-bridge.webhooks', $this->app['router']->getRoutes()->match(Request::create('/hooks/bridge', 'POST'))->getName());

        $this->app = LaravelApp::make(['webhooks.secrets' => '']);
        $this->expectException(NotFoundHttpException::class);
        $this->post($body, self::signed($body));
    }
}
