<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `company.sync_paused`: Bayzat refused a company's key: its sending is paused until a new key is set. */
final class CompanySyncPaused extends WebhookEvent
{
}
