<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/**
 * Every webhook event implements this: `Event::listen(AnyWebhook::class, …)` hears them all
 * (Laravel dispatches to interfaces an event implements, not to its parent classes).
 */
interface AnyWebhook
{
}
