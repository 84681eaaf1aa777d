<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 409: a conflict with what exists (report_name_taken, slug_taken, not_held, import_cancelled, …). */
class ConflictException extends ApiException
{
}
