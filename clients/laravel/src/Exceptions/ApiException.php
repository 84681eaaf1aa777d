<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Exceptions;

use Throwable;

/**
 * A service answered with an error: its application/problem+json body, whose `code` is stable
 * (branch on it) and whose `detail` is for people. The class tells the status family:
 * BadRequestException (400), AuthenticationException (401), AuthorizationException (403),
 * NotFoundException (404), ConflictException (409), PayloadTooLargeException (413),
 * UnprocessableEntityException (422), RateLimitedException (429), ServiceUnavailableException
 * (503), ServerException (other 5xx); any other status is an ApiException itself.
 */
class ApiException extends AttendanceBridgeException
{
    /** @param array<string, mixed> $problem */
    final public function __construct(
        private readonly int $status,
        private readonly array $problem,
        private readonly ?int $retryAfter = null,
        ?Throwable $previous = null,
    ) {
        $detail = $this->detail() ?? $this->title() ?? 'no detail';
        parent::__construct(sprintf('%d %s: %s', $status, $this->code(), $detail), $status, $previous);
    }

    /**
     * The exception for an answer: the status, the body as it came, and Retry-After (seconds).
     */
    public static function fromResponse(int $status, string $body, ?string $retryAfter = null, ?Throwable $previous = null): self
    {
        $problem = json_decode($body, true);
        if (!is_array($problem)) {
            // Not problem+json (a proxy's page, say): the status alone, and no body (it may be large).
            $problem = ['status' => $status, 'title' => 'HTTP ' . $status];
        }
        $class = match (true) {
            $status === 400 => BadRequestException::class,
            $status === 401 => AuthenticationException::class,
            $status === 403 => AuthorizationException::class,
            $status === 404 => NotFoundException::class,
            $status === 409 => ConflictException::class,
            $status === 413 => PayloadTooLargeException::class,
            $status === 422 => UnprocessableEntityException::class,
            $status === 429 => RateLimitedException::class,
            $status === 503 => ServiceUnavailableException::class,
            $status >= 500 => ServerException::class,
            default => self::class,
        };
        $seconds = $retryAfter !== null && ctype_digit(trim($retryAfter)) ? (int) trim($retryAfter) : null;

        return new $class($status, $problem, $seconds, $previous);
    }

    /** The HTTP status. */
    public function status(): int
    {
        return $this->status;
    }

    /** The problem's stable `code`, e.g. `not_found`, `invalid_slug`, `connection_test_failed`. */
    public function code(): string
    {
        $code = $this->problem['code'] ?? null;

        return is_string($code) && $code !== '' ? $code : 'http_' . $this->status;
    }

    public function title(): ?string
    {
        return is_string($this->problem['title'] ?? null) ? $this->problem['title'] : null;
    }

    public function detail(): ?string
    {
        return is_string($this->problem['detail'] ?? null) ? $this->problem['detail'] : null;
    }

    /** The whole problem document, extra fields (`field`, `connection_test`, `rejected_rows`, …) included. */
    public function problem(): array
    {
        return $this->problem;
    }

    /** Seconds the service asked to wait before trying again (503, 429), when it said. */
    public function retryAfter(): ?int
    {
        return $this->retryAfter;
    }
}
