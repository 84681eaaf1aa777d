<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 401: no token, or one the services refuse (unauthenticated, invalid_token): check the key id and key. */
class AuthenticationException extends ApiException
{
}
