<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 429: too many calls by one caller (rate_limited); see retryAfter(). */
class RateLimitedException extends ApiException
{
}
