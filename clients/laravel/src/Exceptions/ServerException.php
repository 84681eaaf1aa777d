<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

/** 5xx: a defect or a storage failure on the service's side (internal, storage_failed, …). */
class ServerException extends ApiException
{
}
