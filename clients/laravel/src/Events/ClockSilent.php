<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `clock.silent`: a clock has not pushed for longer than expected. */
final class ClockSilent extends WebhookEvent
{
}
