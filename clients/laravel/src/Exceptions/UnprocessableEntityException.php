<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 422: a value that cannot be used (invalid_slug, connection_test_failed, no_header, missing_columns, …). */
class UnprocessableEntityException extends ApiException
{
}
