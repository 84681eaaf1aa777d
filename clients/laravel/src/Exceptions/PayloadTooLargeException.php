<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 413: a report over the upload limit (too_large). */
class PayloadTooLargeException extends ApiException
{
}
