<?php

declare(strict_types=1);

// With composer: its autoloader. Without (a Debian machine with php-laravel-framework,
// php-guzzlehttp-guzzle and phpunit): the autoloaders Debian ships under /usr/share/php, and
// composer.json's PSR-4 mapping, here.
if (is_file(__DIR__ . '/../vendor/autoload.php')) {
    require __DIR__ . '/../vendor/autoload.php';

    return;
}

foreach (['Illuminate/autoload.php', 'GuzzleHttp/autoload.php'] as $file) {
    if (stream_resolve_include_path($file) === false) {
        fwrite(STDERR, "$file is missing: run scripts/deps.sh (php-laravel-framework, php-guzzlehttp-guzzle)\n");
        exit(1);
    }
    require_once $file;
}

spl_autoload_register(static function (string $class): void {
    $prefixes = [
        'AttendanceBridge\\Laravel\\Tests\\' => __DIR__ . '/',
        'AttendanceBridge\\Laravel\\' => __DIR__ . '/../src/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }

            return;
        }
    }
});
