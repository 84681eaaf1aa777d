<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/** `clock.pending_approval`: an unknown clock pushed punches: an admin must approve it. */
final class ClockPendingApproval extends WebhookEvent
{
}
