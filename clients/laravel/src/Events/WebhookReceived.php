<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** A verified webhook of a type this package has no class for (a newer bridge's): read `type`. */
final class WebhookReceived extends WebhookEvent
{
}
