<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `import.failed`: an import could not be read or stored. */
final class ImportFailed extends WebhookEvent
{
}
