<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `batch.completed`: a sync batch (one import, one company) has ended. */
final class BatchCompleted extends WebhookEvent
{
}
