<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Events;

/**
 * A webhook from the bridge, verified. `id` is the webhook-id header: the same for every attempt
 * and replay of one message, so a listener that must act once keeps the ids it has seen. `type`
 * is the event type (`import.completed`), `timestamp` when it happened (RFC 3339), `data` its
 * fields as the bridge sent them.
 */
abstract class WebhookEvent implements AnyWebhook
{
    /** The Laravel event of each type the bridge sends. */
    public const TYPES = [
        'import.completed' => ImportCompleted::class,
        'import.failed' => ImportFailed::class,
        'import.needs_attention' => ImportNeedsAttention::class,
        'company.sync_paused' => CompanySyncPaused::class,
        'deliveries.failed' => DeliveriesFailed::class,
        'batch.completed' => BatchCompleted::class,
        'clock.silent' => ClockSilent::class,
        'clock.pending_approval' => ClockPendingApproval::class,
    ];

    final public function __construct(
        public readonly string $id,
        public readonly string $type,
        public readonly ?string $timestamp,
        public readonly array $data,
    ) {
    }

    /** The event for a payload {"type", "timestamp", "data"}: its class, or WebhookReceived. */
    public static function from(string $id, array $payload): self
    {
        $type = (string) ($payload['type'] ?? '');
        $class = self::TYPES[$type] ?? WebhookReceived::class;
        $timestamp = $payload['timestamp'] ?? null;

        return new $class($id, $type, is_scalar($timestamp) ? (string) $timestamp : null, is_array($payload['data'] ?? null) ? $payload['data'] : []);
    }
}
