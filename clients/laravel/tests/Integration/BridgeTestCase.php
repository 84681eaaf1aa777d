<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Integration;

use AttendanceBridge\Laravel\Client;
use AttendanceBridge\Laravel\Facades\AttendanceBridge;
use AttendanceBridge\Laravel\Tests\LaravelApp;
use Illuminate\Foundation\Application;
use PHPUnit\Framework\TestCase;

/**
 * Against a running bridge loaded with the fixtures' directory.json, configured as a portal is:
 * from the ATTENDANCE_BRIDGE_* environment variables (tests/tests/laravel.rs sets them).
 */
abstract class BridgeTestCase extends TestCase
{
    protected Application $app;

    protected function setUp(): void
    {
        $missing = array_filter(
            ['ATTENDANCE_BRIDGE_CONFIG_URL', 'ATTENDANCE_BRIDGE_IMPORT_URL', 'ATTENDANCE_BRIDGE_SYNC_URL', 'ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE'],
            fn (string $name) => (getenv($name) ?: '') === '',
        );
        if ($missing !== [] && (getenv('ATTENDANCE_BRIDGE_PRIVATE_KEY') ?: '') === '') {
            self::fail('the integration suite runs against a bridge: set ' . implode(', ', $missing)
                . ' (cargo test -p bridge-tests --test laravel starts one and sets them)');
        }
        $this->app = LaravelApp::make();
    }

    protected static function fixture(string $name): string
    {
        $dir = getenv('ATTENDANCE_BRIDGE_FIXTURES') ?: __DIR__ . '/../../../../tests/fixtures';

        return rtrim($dir, '/') . '/' . $name;
    }

    protected function as(string $role, ?array $companies = null): Client
    {
        return AttendanceBridge::as('laravel-' . $role . '@corp.example', $role, $companies);
    }

    /** basic.csv uploaded (or the earlier import of the same bytes), followed until settled. */
    protected function settledBasicImport(): array
    {
        $imports = $this->as('operator')->imports();
        $import = $imports->uploadFile(self::fixture('basic.csv'));

        return $imports->waitUntilSettled($import['id'], 120, 0.5);
    }
}
