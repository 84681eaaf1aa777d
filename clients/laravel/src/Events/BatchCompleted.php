<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/**
 * `batch.completed`: every punch of a sync batch (one company's punches of one import, or of a
 * "sync now") reached a final state. `data`: batch_id, import_id, status (`completed`: all
 * delivered; `failed`: some failed or were rejected), total, delivered, failed, rejected,
 * cancelled.
 */
final class BatchCompleted extends WebhookEvent
{
}
