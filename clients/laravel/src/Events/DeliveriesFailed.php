<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `deliveries.failed`: punches failed every retry. */
final class DeliveriesFailed extends WebhookEvent
{
}
