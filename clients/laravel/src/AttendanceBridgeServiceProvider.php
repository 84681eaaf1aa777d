<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel;

use AttendanceBridge\Laravel\Webhooks\VerifyWebhookSignature;
use AttendanceBridge\Laravel\Webhooks\WebhookController;
use AttendanceBridge\Laravel\Webhooks\WebhookVerifier;
use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\Client\Factory as HttpFactory;
use Illuminate\Support\ServiceProvider;

/**
 * Registers the client (AttendanceBridge, also as the facade's root), the webhook verifier, and,
 * when webhook secrets are configured, the route that receives the bridge's webhooks.
 */
final class AttendanceBridgeServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        $this->mergeConfigFrom(__DIR__ . '/../config/attendance-bridge.php', 'attendance-bridge');

        // One HTTP client factory for the application, the Http facade's, so that Http::fake()
        // fakes the bridge's calls too (Laravel 8 binds none; a later version's binding stays).
        $this->app->singletonIf(HttpFactory::class);
        $this->app->singleton(AttendanceBridge::class, function ($app) {
            return AttendanceBridge::fromConfig($app['config']['attendance-bridge'], $app->make(HttpFactory::class));
        });
        $this->app->singleton(WebhookVerifier::class, function ($app) {
            $config = $app['config']['attendance-bridge.webhooks'];

            return new WebhookVerifier(WebhookVerifier::parseSecrets($config['secrets'] ?? ''), (int) ($config['tolerance'] ?? 300));
        });
        $this->app->bind(WebhookController::class, fn ($app) => new WebhookController($app->make(Dispatcher::class)));
    }

    public function boot(): void
    {
        $this->publishes([
            __DIR__ . '/../config/attendance-bridge.php' => $this->app->configPath('attendance-bridge.php'),
        ], 'attendance-bridge-config');

        $config = $this->app['config']['attendance-bridge.webhooks'];
        $path = trim((string) ($config['path'] ?? ''), '/');
        if ($path === '' || WebhookVerifier::parseSecrets($config['secrets'] ?? '') === []) {
            return;
        }
        if (method_exists($this->app, 'routesAreCached') && $this->app->routesAreCached()) {
            return;
        }
        $this->app['router']
            ->post($path, WebhookController::class)
            ->middleware(array_merge((array) ($config['middleware'] ?? []), [VerifyWebhookSignature::class]))
            ->name('attendance-bridge.webhooks');
    }
}
