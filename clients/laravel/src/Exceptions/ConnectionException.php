<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** The service did not answer (refused, unreachable, timed out): nothing came back to read. */
class ConnectionException extends AttendanceBridgeException
{
}
