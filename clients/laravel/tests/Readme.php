<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests;

use RuntimeException;

/** The ```php blocks of the package's README, which its tests run as they stand. */
final class Readme
{
    /** The ```php blocks of the README's section $heading (e.g. `4. Using the client`), in order. */
    public static function examples(string $heading): array
    {
        $readme = (string) file_get_contents(__DIR__ . '/../README.md');
        $start = strpos($readme, "\n## $heading\n");
        if ($start === false) {
            throw new RuntimeException("the README has no section $heading");
        }
        $end = strpos($readme, "\n## ", $start + 1);
        $section = substr($readme, $start, $end === false ? null : $end - $start);
        preg_match_all('/^ *```php\n(.*?)^ *```$/ms', $section, $blocks);

        return array_map(self::unindent(...), $blocks[1]);
    }

    /** The one ```php block of section $heading that contains $text. */
    public static function example(string $heading, string $text): string
    {
        $found = array_values(array_filter(self::examples($heading), fn (string $code) => str_contains($code, $text)));
        if (count($found) !== 1) {
            throw new RuntimeException(count($found) . " examples of the README's section $heading contain $text, not one");
        }

        return $found[0];
    }

    /** A block inside a list item is indented: as PHP, without the indentation. */
    private static function unindent(string $code): string
    {
        preg_match_all('/^( *)\S/m', $code, $indents);
        $indent = $indents[1] === [] ? 0 : min(array_map('strlen', $indents[1]));

        return (string) preg_replace('/^ {0,' . $indent . '}/m', '', $code);
    }
}
