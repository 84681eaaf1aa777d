<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Integration;

use AttendanceBridge\Laravel\Events\BatchCompleted;
use AttendanceBridge\Laravel\Events\ImportCompleted;
use AttendanceBridge\Laravel\Tests\Readme;

/**
 * The bridge's webhooks, received by this package's route in a Laravel application (a `php -S`
 * server running tests/WebhookReceiver/router.php) and the README's "Webhooks" code, run as it
 * stands. Needs a bridge into which basic.csv was not imported yet, whose config-service may send
 * to http://127.0.0.1 (`WEBHOOK_ALLOWED_URLS`); tests/tests/laravel.rs starts one and sets
 * ATTENDANCE_BRIDGE_TEST_WEBHOOK_PORT, the receiver's port (a free one when unset).
 */
final class WebhooksTest extends BridgeTestCase
{
    /** How long the webhooks of one upload may take to arrive. */
    private const WAIT_SECONDS = 90;

    /** @var resource|null the php -S process */
    private $server = null;
    private string $dir;
    private ?int $endpointId = null;

    protected function setUp(): void
    {
        parent::setUp();
        $this->dir = sys_get_temp_dir() . '/attendance-bridge-webhooks-' . bin2hex(random_bytes(6));
        mkdir($this->dir);
    }

    protected function tearDown(): void
    {
        if ($this->endpointId !== null) {
            try {
                $this->as('admin')->webhooks()->delete($this->endpointId);
            } catch (\Throwable) {
                // The bridge is going away with the test anyway.
            }
        }
        if (is_resource($this->server)) {
            proc_terminate($this->server);
            $deadline = microtime(true) + 5;
            while (proc_get_status($this->server)['running'] && microtime(true) < $deadline) {
                usleep(50_000);
            }
            if (proc_get_status($this->server)['running']) {
                proc_terminate($this->server, 9);
            }
            proc_close($this->server);
            $this->server = null;
        }
        foreach (glob($this->dir . '/*') ?: [] as $file) {
            unlink($file);
        }
        rmdir($this->dir);
    }

    public function testAnUploadOfBasicCsvIsFollowedThroughItsWebhooks(): void
    {
        $url = $this->startReceiver() . '/attendance-bridge/webhooks';

        // 1. The README's registration, as an admin.
        $output = $this->runReadme('$webhooks->create(', ['url' => $url], $scope);
        $endpoint = $scope['endpoint'];
        $webhooks = $scope['webhooks'];
        $this->endpointId = $endpoint['id'];
        self::assertSame("endpoint {$endpoint['id']}: ATTENDANCE_BRIDGE_WEBHOOK_SECRETS={$endpoint['secret']}\n", $output);
        self::assertStringStartsWith('whsec_', $endpoint['secret']);
        self::assertSame([$url, true, null], [$endpoint['url'], $endpoint['enabled'], $endpoint['companies']]);
        self::assertContains('batch.completed', $endpoint['event_types']);
        self::assertArrayNotHasKey('secret', $webhooks->get($endpoint['id']));
        self::assertContains($endpoint['id'], array_column($webhooks->list()['endpoints'], 'id'));
        // What the portal puts into .env.
        file_put_contents($this->dir . '/secrets', $endpoint['secret']);

        // 2. The upload; its webhooks arrive through the package's route. basic.csv's fixture
        // says its rows, and its punches per company, all of them new.
        $expected = json_decode((string) file_get_contents(self::fixture('expected/basic.json')), true);
        $punches = array_sum(array_map('count', $expected['punches']));
        $import = $this->as('operator')->imports()->uploadFile(self::fixture('basic.csv'));
        self::assertSame(21, $import['total_records']);
        $id = $import['id'];
        $events = $this->waitForEvents('the import.completed of each company and the batch.completed of advline and clarastars', function (array $events) use ($id, $expected) {
            $stored = self::ofImport($events, ImportCompleted::class, $id);
            $batches = self::ofImport($events, BatchCompleted::class, $id);

            return count($stored) >= count($expected['punches']) && count($batches) >= 2;
        });

        // One import.completed for each company of the import, each of the whole import.
        $stored = self::ofImport($events, ImportCompleted::class, $id);
        self::assertCount(count($expected['punches']), $stored);
        foreach ($stored as $event) {
            self::assertSame('import.completed', $event['type']);
            self::assertSame(
                ['basic.csv', $expected['rows']['total'], $expected['rows']['valid'], $expected['rows']['invalid'], $expected['rows']['skipped'], $punches],
                [
                    $event['data']['filename'], $event['data']['total_rows'], $event['data']['valid_rows'],
                    $event['data']['invalid_rows'], $event['data']['skipped_rows'], $event['data']['new_punches'],
                ],
            );
        }
        $stored = $stored[0];
        // advline's batch: Bayzat does not know 1004 (two punches); clarastars': all delivered.
        // dormant is disabled and gulflog waits for its hourly run: no batch of theirs settles.
        $batches = self::ofImport($events, BatchCompleted::class, $id);
        usort($batches, fn ($a, $b) => $b['data']['total'] <=> $a['data']['total']);
        self::assertEquals(
            [
                ['status' => 'failed', 'total' => count($expected['punches']['advline']), 'delivered' => 18, 'failed' => 0, 'rejected' => 2, 'cancelled' => 0],
                ['status' => 'completed', 'total' => count($expected['punches']['clarastars']), 'delivered' => 7, 'failed' => 0, 'rejected' => 0, 'cancelled' => 0],
            ],
            array_map(fn (array $batch) => array_diff_key($batch['data'], ['batch_id' => 0, 'import_id' => 0]), $batches),
        );
        self::assertCount(2, $batches);

        // The README's listeners ran in the portal's application.
        $log = (string) @file_get_contents($this->dir . '/laravel.log');
        self::assertStringContainsString("webhook {$stored['id']}: import $id (basic.csv) stored: 18 of 21 rows valid, $punches new punches", $log);
        self::assertStringContainsString("webhook {$batches[0]['id']}: import $id: batch failed: 18 of 20 punches delivered, 2 rejected, 0 failed", $log);
        self::assertStringContainsString("webhook {$batches[1]['id']}: import $id: batch completed: 7 of 7 punches delivered, 0 rejected, 0 failed", $log);

        // 3. The import's rows, as basic.csv's fixture (expected/basic.json) has them: 1004's
        // punches refused, 5001 and 9999 unknown. The import's view follows sync-service's
        // outcomes within moments of the batch's webhook.
        $imports = $this->as('viewer')->imports();
        $failed = $this->eventually('the import shows the rejected row', function () use ($imports, $id) {
            $failed = $imports->failedRows($id);

            return $failed['total'] === 1 ? $failed : null;
        });
        self::assertSame('1004', $failed['items'][0]['employee_id']);
        self::assertSame('failed', $failed['items'][0]['delivery_state']);
        self::assertStringContainsString('rejected', (string) $failed['items'][0]['delivery_detail']);
        $invalid = $imports->invalidRows($id);
        self::assertSame($expected['rows']['invalid'], $invalid['total']);
        self::assertEqualsCanonicalizing($expected['unknown_employees'], array_map(fn ($row) => $row['raw'][0], $invalid['items']));
        self::assertSame($expected['rows']['total'], $imports->get($id)['total_records']);

        // 4. The delivery log: each event received above delivered, answered 204 by the route.
        $received = array_column($this->events(), 'id');
        $log = $this->eventually('every delivery delivered', function () use ($webhooks, $endpoint) {
            $log = $webhooks->deliveries($endpoint['id'], ['limit' => 50]);
            $states = array_unique(array_column($log['deliveries'], 'state'));

            return $states === ['delivered'] ? $log : null;
        });
        foreach ($log['deliveries'] as $delivery) {
            self::assertContains($delivery['event_id'], $received, json_encode($delivery));
            self::assertSame(204, end($delivery['log'])['status'], json_encode($delivery));
        }
        foreach (array_merge([$stored], $batches) as $event) {
            self::assertContains($event['id'], array_column($log['deliveries'], 'event_id'));
        }

        // The README's delivery log and replay: the newest delivery arrives again, same id.
        $newest = $log['deliveries'][0];
        $output = $this->runReadme('$webhooks->replay(', ['webhooks' => $webhooks, 'endpoint' => $endpoint], $scope);
        self::assertStringContainsString("{$newest['type']} {$newest['event_id']}: delivered, attempts: 1\n", $output);
        $this->waitForEvents("the replay of {$newest['event_id']}", fn (array $events) => count(array_keys(array_column($events, 'id'), $newest['event_id'])) === 2);
        $replayed = $this->eventually('the replay in the delivery log', function () use ($webhooks, $endpoint, $newest) {
            foreach ($webhooks->deliveries($endpoint['id'])['deliveries'] as $delivery) {
                if ($delivery['id'] === $newest['id'] && end($delivery['log'])['replay'] === true) {
                    return $delivery;
                }
            }

            return null;
        });
        self::assertSame('delivered', $replayed['state']);

        // 5. The README's rotation. The bridge signs with the new secret and the old: a receiver
        // that has only the new one takes the next webhook.
        $output = $this->runReadme('->rotateSecret(', ['webhooks' => $webhooks, 'endpoint' => $endpoint], $scope);
        $rotated = $scope['rotated'];
        self::assertStringStartsWith('whsec_', $rotated['secret']);
        self::assertNotSame($endpoint['secret'], $rotated['secret']);
        self::assertSame("ATTENDANCE_BRIDGE_WEBHOOK_SECRETS={$rotated['secret']},{$endpoint['secret']} until {$rotated['previous_secrets_expire_at']}\n", $output);
        file_put_contents($this->dir . '/secrets', $rotated['secret']);
        $oldest = end($log['deliveries']);
        $webhooks->replay($endpoint['id'], $oldest['id']);
        $this->waitForEvents("the replay of {$oldest['event_id']} signed with the new secret", fn (array $events) => count(array_keys(array_column($events, 'id'), $oldest['event_id'])) === 2);
    }

    /** Starts `php -S` with the receiver on the port laravel.rs chose; its base URL. */
    private function startReceiver(): string
    {
        $port = (int) (getenv('ATTENDANCE_BRIDGE_TEST_WEBHOOK_PORT') ?: 0);
        if ($port === 0) {
            $socket = stream_socket_server('tcp://127.0.0.1:0');
            $port = (int) substr(strrchr((string) stream_socket_get_name($socket, false), ':'), 1);
            fclose($socket);
        }
        $env = array_merge(getenv(), [
            'ATTENDANCE_BRIDGE_TEST_RECEIVER_SECRETS' => $this->dir . '/secrets',
            'ATTENDANCE_BRIDGE_TEST_RECEIVER_EVENTS' => $this->dir . '/events.jsonl',
            'ATTENDANCE_BRIDGE_TEST_RECEIVER_LOG' => $this->dir . '/laravel.log',
        ]);
        $this->server = proc_open(
            [PHP_BINARY, '-S', "127.0.0.1:$port", __DIR__ . '/../WebhookReceiver/router.php'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', $this->dir . '/server.out', 'a'], 2 => ['file', $this->dir . '/server.out', 'a']],
            $pipes,
            null,
            $env,
        );
        self::assertIsResource($this->server, 'php -S started');
        $this->eventually("php -S listening on port $port", function () use ($port) {
            self::assertTrue(proc_get_status($this->server)['running'], 'php -S exited: ' . @file_get_contents($this->dir . '/server.out'));
            $connection = @fsockopen('127.0.0.1', $port, $errno, $error, 0.2);
            if ($connection === false) {
                return null;
            }
            fclose($connection);

            return true;
        }, 10);

        return "http://127.0.0.1:$port";
    }

    /**
     * Runs the README's "Webhooks" example that contains $text with the variables $vars, as the
     * README's reader would; what it printed. $scope: its variables afterwards.
     */
    private function runReadme(string $text, array $vars, ?array &$scope): string
    {
        $code = Readme::example('7. Webhooks', $text);
        $run = static function (array $__vars) use ($code): array {
            extract($__vars);
            unset($__vars);
            eval($code);

            return get_defined_vars();
        };
        ob_start();
        try {
            $scope = $run($vars);
        } finally {
            $output = (string) ob_get_clean();
        }

        return $output;
    }

    /** The events the receiver's listener heard, in order. */
    private function events(): array
    {
        $lines = @file($this->dir . '/events.jsonl', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) ?: [];

        return array_map(fn (string $line) => json_decode($line, true, 512, JSON_THROW_ON_ERROR), $lines);
    }

    /** The events of one class about import $id. */
    private static function ofImport(array $events, string $class, int $id): array
    {
        return array_values(array_filter($events, fn (array $e) => $e['class'] === $class && ($e['data']['import_id'] ?? null) === $id));
    }

    /** Polls the received events until $done says they are complete; them. */
    private function waitForEvents(string $what, callable $done): array
    {
        return $this->eventually($what, fn () => $done($events = $this->events()) ? $events : null);
    }

    /** Calls $probe until it answers something other than null, within a deadline; that. */
    private function eventually(string $what, callable $probe, float $seconds = self::WAIT_SECONDS): mixed
    {
        $deadline = microtime(true) + $seconds;
        while (true) {
            $result = $probe();
            if ($result !== null) {
                return $result;
            }
            if (microtime(true) > $deadline) {
                self::fail("waited {$seconds}s for $what; the receiver heard: " . json_encode(array_column($this->events(), 'type', 'id'))
                    . "\nits server said: " . @file_get_contents($this->dir . '/server.out'));
            }
            usleep(200_000);
        }
    }
}
