<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Webhooks;

use AttendanceBridge\Laravel\Exceptions\AttendanceBridgeException;

/**
 * A webhook that is not provably the bridge's: `reason` is missing_headers, invalid_timestamp,
 * timestamp_out_of_tolerance, invalid_signature or no_secrets. The message never holds a secret.
 */
final class WebhookVerificationException extends AttendanceBridgeException
{
    public function __construct(public readonly string $reason, string $message)
    {
        parent::__construct($message);
    }
}
