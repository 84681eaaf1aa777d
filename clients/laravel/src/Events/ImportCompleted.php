<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/**
 * `import.completed`: an import was read and stored, and its new punches handed on for sending;
 * one for each company the import has rows of. It does not mean the punches reached Bayzat:
 * `batch.completed` (BatchCompleted) says that, per company. `data`: import_id, filename,
 * total_rows, valid_rows, invalid_rows, skipped_rows, new_punches.
 */
final class ImportCompleted extends WebhookEvent
{
}
