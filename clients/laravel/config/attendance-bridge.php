<?php

// The attendance bridge, as the IT portal calls it. Publish with
// `php artisan vendor:publish --tag=attendance-bridge-config`.
return [

    // Where each service's REST API is (`make run` uses these addresses).
    'urls' => [
        'config' => env('ATTENDANCE_BRIDGE_CONFIG_URL', 'http://127.0.0.1:8081'),
        'import' => env('ATTENDANCE_BRIDGE_IMPORT_URL', 'http://127.0.0.1:8082'),
        'sync' => env('ATTENDANCE_BRIDGE_SYNC_URL', 'http://127.0.0.1:8083'),
    ],

    // The portal's Ed25519 key, whose public half the services trust (BRIDGE_TRUSTED_KEYS item
    // `kid:portal:base64(public key)`). `key_file`: a PEM file (`openssl genpkey -algorithm
    // ed25519`). Or `key`: the PEM text, base64 of the PKCS#8 DER or of the 32-byte seed, or
    // `kid:base64(…)` as `config-service generate-key` prints it (then `kid` may be left empty).
    'signing' => [
        'kid' => env('ATTENDANCE_BRIDGE_KEY_ID'),
        'key_file' => env('ATTENDANCE_BRIDGE_PRIVATE_KEY_FILE'),
        'key' => env('ATTENDANCE_BRIDGE_PRIVATE_KEY'),
        // Seconds a token lives. Expiry is the only revocation: keep it short. A token is minted
        // for every call, so a long poll never outlives its token.
        'ttl' => (int) env('ATTENDANCE_BRIDGE_TOKEN_TTL', 300),
    ],

    // Seconds a call may take (an upload of a large report takes a while).
    'timeout' => (int) env('ATTENDANCE_BRIDGE_TIMEOUT', 60),

    'webhooks' => [
        // The endpoint's signing secrets (`whsec_…`), comma- or space-separated: during a
        // rotation both the old and the new secret are listed. No secret: no route.
        'secrets' => env('ATTENDANCE_BRIDGE_WEBHOOK_SECRETS', ''),
        // The path of the route that receives them (POST); null or '' registers none.
        'path' => env('ATTENDANCE_BRIDGE_WEBHOOK_PATH', 'attendance-bridge/webhooks'),
        // How far a webhook's timestamp may be from now, in seconds, before it is refused.
        'tolerance' => (int) env('ATTENDANCE_BRIDGE_WEBHOOK_TOLERANCE', 300),
        // Middleware run before the signature check (not 'web': a webhook carries no CSRF token).
        'middleware' => [],
    ],
];
