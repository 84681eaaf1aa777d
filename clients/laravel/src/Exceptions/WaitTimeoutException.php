<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** A wait (for example for an import's punches to settle) ran out of time; `last` is what was seen last. */
class WaitTimeoutException extends AttendanceBridgeException
{
    public function __construct(string $message, public readonly array $last = [])
    {
        parent::__construct($message);
    }
}
