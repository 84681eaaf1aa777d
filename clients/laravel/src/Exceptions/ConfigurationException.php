<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** The package's configuration is missing or unusable (the message names the setting). */
class ConfigurationException extends AttendanceBridgeException
{
}
