<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Webhooks;

use Closure;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;

/**
 * Route middleware: lets through only a webhook the bridge signed, within the tolerance (five
 * minutes by default). Anything else is answered 401 application/problem+json, and nothing
 * after this middleware runs.
 */
final class VerifyWebhookSignature
{
    public function __construct(private readonly WebhookVerifier $verifier)
    {
    }

    public function handle(Request $request, Closure $next): mixed
    {
        try {
            $this->verifier->verify(
                $request->getContent(),
                $request->headers->get(WebhookVerifier::HEADER_ID),
                $request->headers->get(WebhookVerifier::HEADER_TIMESTAMP),
                $request->headers->get(WebhookVerifier::HEADER_SIGNATURE),
            );
        } catch (WebhookVerificationException $e) {
            return new JsonResponse([
                'type' => 'urn:attendance-bridge:problem:' . $e->reason,
                'title' => 'Webhook refused',
                'status' => 401,
                'code' => $e->reason,
                'detail' => $e->getMessage(),
            ], 401, ['Content-Type' => 'application/problem+json']);
        }

        return $next($request);
    }
}
