<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `import.completed`: an import's punches are all settled (delivered, rejected, held, …). */
final class ImportCompleted extends WebhookEvent
{
}
