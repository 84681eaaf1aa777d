<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Integration;

use AttendanceBridge\Laravel\Tests\Readme;

/** The README's "Using the client" code, run as it stands (WebhooksTest runs its "Webhooks" code). */
final class ReadmeTest extends BridgeTestCase
{
    public function testTheReadmeExamplesRunAgainstTheBridge(): void
    {
        $path = self::fixture('basic.csv');
        $examples = Readme::examples('4. Using the client');
        self::assertGreaterThanOrEqual(4, count($examples), 'the section has its examples');
        $code = implode("\n", $examples);
        ob_start();
        try {
            eval($code);
        } finally {
            $output = (string) ob_get_clean();
        }

        // What the examples printed, from the import of basic.csv into the fixtures' directory.
        self::assertMatchesRegularExpression('/^import \d+: 18 of 21 rows valid$/m', $output);
        self::assertStringContainsString('advline: {"delivered":18,"rejected":2}', $output);
        self::assertStringContainsString('dormant: {"held":2}', $output);
        self::assertMatchesRegularExpression('/^line \d+: employee 1004: rejected: /m', $output);
        self::assertMatchesRegularExpression('/^line \d+: unknown_employee$/m', $output);
        foreach (['advline', 'clarastars', 'gulflog', 'dormant'] as $slug) {
            self::assertMatchesRegularExpression("/^$slug: (active|disabled)\$/m", $output);
        }
        self::assertStringContainsString('422 invalid_slug: ', $output);
    }
}
