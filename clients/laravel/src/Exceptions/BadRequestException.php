<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 400: a parameter or body the service could not read (invalid_text, invalid_query, invalid_body). */
class BadRequestException extends ApiException
{
}
