<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Webhooks;

use AttendanceBridge\Laravel\Events\WebhookEvent;
use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;

/**
 * Receives a verified webhook (behind VerifyWebhookSignature) and dispatches its Laravel event:
 * ImportCompleted for `import.completed`, CompanySyncPaused for `company.sync_paused`, …, and
 * WebhookReceived for a type this package does not know yet. Answers 204 once the listeners ran;
 * a listener that throws makes it a 500, which the bridge is to retry.
 */
final class WebhookController
{
    public function __construct(private readonly Dispatcher $events)
    {
    }

    public function __invoke(Request $request): Response|JsonResponse
    {
        $payload = json_decode($request->getContent(), true);
        if (!is_array($payload) || !is_string($payload['type'] ?? null)) {
            return new JsonResponse([
                'type' => 'urn:attendance-bridge:problem:invalid_payload',
                'title' => 'Webhook refused',
                'status' => 400,
                'code' => 'invalid_payload',
                'detail' => 'the body is not a JSON object with a type',
            ], 400, ['Content-Type' => 'application/problem+json']);
        }
        $this->events->dispatch(WebhookEvent::from((string) $request->headers->get(WebhookVerifier::HEADER_ID), $payload));

        return new Response('', 204);
    }
}
