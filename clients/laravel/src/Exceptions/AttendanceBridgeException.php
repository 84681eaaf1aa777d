<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

use RuntimeException;

/** Everything this package throws extends this: catch it to catch them all. */
class AttendanceBridgeException extends RuntimeException
{
}
