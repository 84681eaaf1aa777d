<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 404: no such company, import or batch, or one the token's companies do not cover (the same answer). */
class NotFoundException extends ApiException
{
}
