<?php

declare(strict_types=1);

// The portal's side of the bridge's webhooks, for tests/Integration/WebhooksTest.php: the router
// script of `php -S` (run once per request). A Laravel application with this package's service
// provider, its webhook route and middleware, the listeners of the README's "Webhooks" section
// (their Log lines go to ATTENDANCE_BRIDGE_TEST_RECEIVER_LOG), and one more listener that writes
// each event it hears, a JSON line, to ATTENDANCE_BRIDGE_TEST_RECEIVER_EVENTS. The webhook
// secrets are read from the file ATTENDANCE_BRIDGE_TEST_RECEIVER_SECRETS at each request, so
// the test can set them once the bridge has answered them.

use AttendanceBridge\Laravel\Events\AnyWebhook;
use AttendanceBridge\Laravel\Events\WebhookEvent;
use AttendanceBridge\Laravel\Tests\LaravelApp;
use AttendanceBridge\Laravel\Tests\Readme;
use Illuminate\Http\Request;
use Illuminate\Log\LogServiceProvider;
use Symfony\Component\HttpKernel\Exception\HttpExceptionInterface;

require __DIR__ . '/../bootstrap.php';

$setting = static function (string $name): string {
    $value = getenv($name);
    if ($value === false || $value === '') {
        throw new RuntimeException("$name is not set");
    }

    return $value;
};

try {
    $secretsFile = $setting('ATTENDANCE_BRIDGE_TEST_RECEIVER_SECRETS');
    $app = LaravelApp::make(['webhooks.secrets' => is_file($secretsFile) ? trim((string) file_get_contents($secretsFile)) : '']);
    $app['config']->set('logging', [
        'default' => 'single',
        'channels' => ['single' => ['driver' => 'single', 'path' => $setting('ATTENDANCE_BRIDGE_TEST_RECEIVER_LOG'), 'level' => 'debug']],
    ]);
    $app->register(new LogServiceProvider($app));

    // The README's listeners: their classes, then their registration.
    eval(Readme::example('7. Webhooks', 'namespace App\Listeners;'));
    eval(Readme::example('7. Webhooks', 'Event::listen('));

    $events = $setting('ATTENDANCE_BRIDGE_TEST_RECEIVER_EVENTS');
    $app['events']->listen(AnyWebhook::class, function (WebhookEvent $event) use ($events): void {
        $line = json_encode(['class' => get_class($event), 'id' => $event->id, 'type' => $event->type, 'timestamp' => $event->timestamp, 'data' => $event->data], JSON_UNESCAPED_SLASHES);
        file_put_contents($events, $line . "\n", FILE_APPEND | LOCK_EX);
    });

    $response = LaravelApp::handle($app, Request::capture());
} catch (HttpExceptionInterface $e) {
    // No route (no secret yet, or another path): what Laravel's kernel would answer.
    http_response_code($e->getStatusCode());
    echo $e->getMessage();

    return true;
} catch (Throwable $e) {
    // A listener that throws: a 500, which the bridge retries.
    error_log('webhook receiver: ' . $e);
    http_response_code(500);
    echo get_class($e) . ': ' . $e->getMessage();

    return true;
}
$response->send();

return true;
