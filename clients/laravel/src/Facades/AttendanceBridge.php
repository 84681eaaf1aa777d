<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Facades;

use Illuminate\Support\Facades\Facade;

/**
 * @method static \AttendanceBridge\Laravel\Client as(string $sub, string $role, ?array $companies = null, ?string $team = null)
 * @method static \AttendanceBridge\Laravel\Auth\TokenSigner signer()
 *
 * @see \AttendanceBridge\Laravel\AttendanceBridge
 */
final class AttendanceBridge extends Facade
{
    protected static function getFacadeAccessor(): string
    {
        return \AttendanceBridge\Laravel\AttendanceBridge::class;
    }
}
