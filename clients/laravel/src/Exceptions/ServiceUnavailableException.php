<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 503: a service or database the call needs is away: retry after retryAfter() seconds. */
class ServiceUnavailableException extends ApiException
{
}
