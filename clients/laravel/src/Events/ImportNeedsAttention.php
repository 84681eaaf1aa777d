<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `import.needs_attention`: an import has rows or punches someone must look at (unknown employees, rejected punches, …). */
final class ImportNeedsAttention extends WebhookEvent
{
}
