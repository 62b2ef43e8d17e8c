<?php
/**
 * A Herald webhook receiver in plain PHP (no extensions beyond the defaults), as a router script
 * for PHP's built-in server:
 *
 *     HERALD_WEBHOOK_SECRET=... PORT=9000 sh -c 'php -S 127.0.0.1:$PORT examples/php/receiver.php'
 *
 * Every request must carry all of Herald's signatures, and each must verify over the raw body:
 *
 *   X-Mia-Signature   hex(sha256(body . secret))            (a "sha256=" prefix is accepted)
 *   X-Mia-Token       the same value
 *   X-Signature       hex(HMAC-SHA256(key = secret, body))
 *   webhook-id, webhook-timestamp, webhook-signature
 *                     Standard Webhooks: space-separated "v1,<base64 HMAC-SHA256(key = secret,
 *                     "{id}.{timestamp}.{body}")>" entries; one verifying entry is enough.
 *
 * Replays are refused: the webhook-timestamp must be within five minutes of this machine's clock,
 * a webhook-id is accepted once, and an eventTimestamp older than the newest accepted one is
 * refused. The answer is 204 on success and 401 with a one-line reason otherwise.
 *
 * PHP forgets its variables after each request, so what has been accepted is kept in a small
 * file tied to the server's process id (or HERALD_STATE_FILE), locked while it is updated.
 */

declare(strict_types=1);

const TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 1048576;

final class Rejected extends Exception
{
}

function refuse(int $status, string $reason): void
{
    http_response_code($status);
    header('Content-Type: text/plain; charset=utf-8');
    echo $reason, "\n";
}

/**
 * The header's single value. PHP's built-in server folds a repeated header into one value joined
 * by ", ", which no value Herald sends contains, so such a value counts as a repeated header.
 */
function one_header(string $name): string
{
    $key = 'HTTP_' . strtoupper(str_replace('-', '_', $name));
    if (!isset($_SERVER[$key]) || !is_string($_SERVER[$key])) {
        throw new Rejected("missing $name header");
    }
    $value = trim($_SERVER[$key]);
    if (str_contains($value, ', ')) {
        throw new Rejected("repeated $name header");
    }
    return $value;
}

function hex_value(string $value): string
{
    if (strncasecmp($value, 'sha256=', 7) === 0) {
        $value = substr($value, 7);
    }
    return strtolower($value);
}

/** Checks every scheme; returns [webhook-id, webhook-timestamp]. */
function verify(string $secret, string $body, int $now): array
{
    if ($secret === '') {
        throw new Rejected('no secret configured (set HERALD_WEBHOOK_SECRET)');
    }

    $console = hash('sha256', $body . $secret);
    if (!hash_equals($console, hex_value(one_header('X-Mia-Signature')))) {
        throw new Rejected('X-Mia-Signature does not verify');
    }
    if (!hash_equals($console, hex_value(one_header('X-Mia-Token')))) {
        throw new Rejected('X-Mia-Token does not verify');
    }

    $keyed = hash_hmac('sha256', $body, $secret);
    if (!hash_equals($keyed, hex_value(one_header('X-Signature')))) {
        throw new Rejected('X-Signature does not verify');
    }

    $id = one_header('webhook-id');
    $timestampText = one_header('webhook-timestamp');
    $signatures = one_header('webhook-signature');
    if (preg_match('/^[0-9]{1,12}$/', $timestampText) !== 1) {
        throw new Rejected('webhook-timestamp is not whole unix seconds');
    }
    $expected = base64_encode(hash_hmac('sha256', "$id.$timestampText." . $body, $secret, true));
    $matched = false;
    foreach (explode(' ', $signatures) as $entry) {
        $parts = explode(',', $entry, 2);
        // Look at every entry, so the time taken does not tell which one matched.
        if (count($parts) === 2 && $parts[0] === 'v1' && hash_equals($expected, $parts[1])) {
            $matched = true;
        }
    }
    if (!$matched) {
        throw new Rejected('webhook-signature does not verify');
    }
    $timestamp = (int) $timestampText;
    if (abs($now - $timestamp) > TOLERANCE_SECONDS) {
        throw new Rejected('webhook-timestamp is more than five minutes away');
    }
    return [$id, $timestamp];
}

/** Records the event as accepted, or refuses it as a replay; the state file is locked meanwhile. */
function admit(string $id, int $timestamp, int|float $eventTimestamp, int $now): void
{
    $path = getenv('HERALD_STATE_FILE') ?: sys_get_temp_dir() . '/herald-receiver-' . getmypid() . '.json';
    $file = fopen($path, 'c+');
    if ($file === false || !flock($file, LOCK_EX)) {
        throw new RuntimeException("cannot open $path");
    }
    try {
        $state = json_decode(stream_get_contents($file) ?: '', true);
        if (!is_array($state)) {
            $state = ['newestEventTimestamp' => null, 'seenIds' => []];
        }
        // An id older than the tolerance would be refused by its timestamp anyway.
        $state['seenIds'] = array_filter(
            $state['seenIds'],
            fn ($seenAt) => $seenAt >= $now - 2 * TOLERANCE_SECONDS,
        );
        if (array_key_exists($id, $state['seenIds'])) {
            throw new Rejected('webhook-id already seen (replay)');
        }
        if ($state['newestEventTimestamp'] !== null && $eventTimestamp < $state['newestEventTimestamp']) {
            throw new Rejected('eventTimestamp is older than the newest accepted event (replay)');
        }
        $state['seenIds'][$id] = $timestamp;
        $state['newestEventTimestamp'] = $eventTimestamp;
        ftruncate($file, 0);
        rewind($file);
        fwrite($file, json_encode($state, JSON_FORCE_OBJECT));
        fflush($file);
    } finally {
        flock($file, LOCK_UN);
        fclose($file);
    }
}

$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
if ($method !== 'POST' && $method !== 'PUT') {
    header('Allow: POST, PUT');
    refuse(405, 'send events with POST or PUT');
    return true;
}

try {
    $body = file_get_contents('php://input', false, null, 0, MAX_BODY_BYTES + 1);
    if ($body === false || strlen($body) > MAX_BODY_BYTES) {
        throw new Rejected('body missing or too large');
    }
    $now = time();
    [$id, $timestamp] = verify((string) getenv('HERALD_WEBHOOK_SECRET'), $body, $now);

    // Parse only what has been verified.
    $event = json_decode($body, true);
    $eventTimestamp = is_array($event) ? ($event['eventTimestamp'] ?? null) : null;
    if (!is_int($eventTimestamp) && !is_float($eventTimestamp)) {
        throw new Rejected('body has no numeric eventTimestamp');
    }
    admit($id, $timestamp, $eventTimestamp, $now);
} catch (Rejected $rejected) {
    refuse(401, $rejected->getMessage());
    return true;
}

$name = is_string($event['eventName'] ?? null) ? $event['eventName'] : '?';
file_put_contents('php://stdout', "accepted $name id=$id eventTimestamp=" . json_encode($eventTimestamp) . "\n");
http_response_code(204);
return true;
