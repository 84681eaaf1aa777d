<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Integration;

/** The README's "Using the client" code, run as it stands. */
final class ReadmeTest extends BridgeTestCase
{
    /** The ```php blocks of the README's section $heading, in order. */
    private static function examples(string $heading): array
    {
        $readme = (string) file_get_contents(__DIR__ . '/../../README.md');
        $start = strpos($readme, "\n## $heading\n");
        self::assertNotFalse($start, "the README has a section $heading");
        $end = strpos($readme, "\n## ", $start + 1);
        $section = substr($readme, $start, $end === false ? null : $end - $start);
        preg_match_all('/^```php\n(.*?)^```$/ms', $section, $blocks);
        self::assertGreaterThanOrEqual(4, count($blocks[1]), 'the section has its examples');

        return $blocks[1];
    }

    public function testTheReadmeExamplesRunAgainstTheBridge(): void
    {
        $path = self::fixture('basic.csv');
        $code = implode("\n", self::examples('4. Using the client'));
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
