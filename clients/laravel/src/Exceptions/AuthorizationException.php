<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 403: the token's role may not do this (forbidden, forbidden_company). */
class AuthorizationException extends ApiException
{
}
