<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests;

use AttendanceBridge\Laravel\AttendanceBridgeServiceProvider;
use Illuminate\Config\Repository;
use Illuminate\Events\EventServiceProvider;
use Illuminate\Filesystem\FilesystemServiceProvider;
use Illuminate\Foundation\Application;
use Illuminate\Http\Request;
use Illuminate\Routing\RoutingServiceProvider;
use Illuminate\Support\Facades\Facade;
use Symfony\Component\HttpFoundation\Response;

/**
 * A Laravel application as small as the package needs: config, events, routing, the HTTP
 * client, and the package's service provider registered and booted as Laravel does it.
 */
final class LaravelApp
{
    /** @param array<string, mixed> $config the attendance-bridge settings over the package's defaults */
    public static function make(array $config = []): Application
    {
        $app = new Application(sys_get_temp_dir());
        $app->instance('config', new Repository([]));
        $app->register(new EventServiceProvider($app));
        $app->register(new FilesystemServiceProvider($app));
        $app->register(new RoutingServiceProvider($app));
        Facade::clearResolvedInstances();
        Facade::setFacadeApplication($app);
        $provider = new AttendanceBridgeServiceProvider($app);
        $provider->register();
        foreach ($config as $key => $value) {
            $app['config']->set('attendance-bridge.' . $key, $value);
        }
        $app->boot();
        $provider->boot();

        return $app;
    }

    /** A request through the application's router (the route's middleware included). */
    public static function handle(Application $app, Request $request): Response
    {
        $app->instance('request', $request);

        return $app['router']->dispatch($request);
    }
}
