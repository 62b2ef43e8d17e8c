import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, ReceivedRequest } from '../support/index.js';
import { startTestHerald, type TestHerald } from '../support/herald.js';

/**
 * The receivers under examples/ run as their own processes behind a real Herald: their answers
 * land in Herald's delivery history, so a 204 there means the example verified every signature
 * of a real delivery. Requests the test crafts itself (tampered, replayed, stale) go straight to
 * the example and must be refused with a 401.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Non-ASCII on purpose: every scheme uses the secret's UTF-8 bytes.
const SECRET = 'exämple-sécret-ключ-🔑-0042';
const WRONG_SECRET = 'another-secret-0042';
const OLD_SECRET = 'rotated-out-secret-0042';

const hasPhp = spawnSync('php', ['--version'], { stdio: 'ignore' }).status === 0;

interface Example {
  name: string;
  skip: string | false;
  command: (port: number) => [string, string[]];
}

const EXAMPLES: Example[] = [
  {
    name: 'php',
    skip: hasPhp ? false : 'php is not installed (the CI script installs php-cli)',
    command: (port) => ['php', ['-S', `127.0.0.1:${port}`, path.join(ROOT, 'examples/php/receiver.php')]],
  },
  {
    name: 'python',
    skip: false,
    command: () => ['python3', [path.join(ROOT, 'examples/python/receiver.py')]],
  },
];

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface RunningExample {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

async function startExample(example: Example, env: Record<string, string>): Promise<RunningExample> {
  const port = await freePort();
  const [command, args] = example.command(port);
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${output}`);
      await fetch(`${url}/`);
      return true;
    },
    { timeoutMs: 15_000, message: `the ${example.name} example did not start` },
  );
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

// --- Signing, written from the README with nothing but node:crypto ---------------------------

function consoleSignature(body: Buffer, secret: string): string {
  return createHash('sha256').update(Buffer.concat([body, Buffer.from(secret, 'utf8')])).digest('hex');
}

function hmacSignature(body: Buffer, secret: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
}

function standardEntry(id: string, timestamp: number, body: Buffer, secret: string): string {
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]);
  return `v1,${createHmac('sha256', Buffer.from(secret, 'utf8')).update(signed).digest('base64')}`;
}

let idCounter = 0;

/** A request signed like Herald signs one; `secrets` lists the webhook-signature entries. */
function signed(
  event: Record<string, unknown>,
  options: { secret?: string; secrets?: string[]; id?: string; timestamp?: number } = {},
): { body: Buffer; headers: Record<string, string> } {
  const body = Buffer.from(JSON.stringify(event), 'utf8');
  const secret = options.secret ?? SECRET;
  const id = options.id ?? `evt_crafted_${process.pid}_${Date.now()}_${++idCounter}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const console = consoleSignature(body, secret);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-mia-signature': console,
      'x-mia-token': console,
      'x-signature': hmacSignature(body, secret),
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': (options.secrets ?? [secret]).map((s) => standardEntry(id, timestamp, body, s)).join(' '),
    },
  };
}

function freshEvent(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventName: 'tag_created',
    eventTimestamp: Date.now(),
    payload: { tenantId: 'acme', projectId: 'crafted', tagName: 'v1.0.0', ...extra },
  };
}

interface Answer {
  status: number;
  text: string;
}

async function post(url: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${url}/hooks`, { method: 'POST', headers, body: new Uint8Array(body) });
  return { status: response.status, text: await response.text() };
}

/** node:http, because fetch folds a repeated header into one line. */
function postRaw(url: string, body: Buffer, headers: Record<string, string | string[]>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}/hooks`, { method: 'POST', headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** The headers of a captured delivery, minus those that belong to the connection. */
function copiedHeaders(request: ReceivedRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i].toLowerCase();
    if (['host', 'content-length', 'connection', 'transfer-encoding'].includes(name)) continue;
    headers[name] = request.rawHeaders[i + 1];
  }
  return headers;
}

function assertRefused(answer: Answer, reason: RegExp): void {
  assert.equal(answer.status, 401, `expected a 401, got ${answer.status} ${answer.text}`);
  assert.match(answer.text, reason);
  assert.equal(answer.text.trim().split('\n').length, 1, 'the reason is one line');
}

// --- Herald ----------------------------------------------------------------------------------

async function createWebhook(herald: TestHerald, body: Record<string, unknown>): Promise<string> {
  const created = await herald.post('/api/webhooks', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function publish(herald: TestHerald, eventName: string, payload: Record<string, unknown>): Promise<string> {
  const published = await herald.post('/api/events', { eventName, payload });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  return published.body.id as string;
}

/** The finished delivery of `eventId` to `webhookId`, once it is no longer pending. */
async function finishedDelivery(herald: TestHerald, webhookId: string, eventId: string): Promise<any> {
  const summary = await waitUntil(
    async () => {
      const list = await herald.get(`/api/webhooks/${webhookId}/deliveries`);
      const found = list.body.data.find((d: any) => d.eventId === eventId);
      return found && found.status !== 'pending' ? found : null;
    },
    { message: `delivery of ${eventId} to ${webhookId} did not finish` },
  );
  const detail = await herald.get(`/api/webhooks/${webhookId}/deliveries/${summary.id}`);
  assert.equal(detail.status, 200);
  return detail.body;
}

async function assertDelivered(herald: TestHerald, webhookId: string, eventId: string): Promise<void> {
  const delivery = await finishedDelivery(herald, webhookId, eventId);
  assert.equal(
    delivery.status,
    'success',
    `delivery failed: ${delivery.statusCode} ${delivery.responseBody} ${JSON.stringify(delivery.error)}`,
  );
  assert.equal(delivery.statusCode, 204);
  assert.equal(delivery.attempts, 1, 'accepted on the first attempt');
}

// --- The suites ------------------------------------------------------------------------------

for (const example of EXAMPLES) {
  describe(`examples/${example.name} receiver`, { skip: example.skip }, () => {
    let herald: TestHerald;
    let capture: Receiver;
    let running: RunningExample;
    let stateDir: string;
    let postHook: string;
    let putHook: string;
    let wrongHook: string;
    let captureHook: string;

    before(async () => {
      stateDir = makeTempDir('herald-example-');
      running = await startExample(example, {
        HERALD_WEBHOOK_SECRET: SECRET,
        HERALD_STATE_FILE: path.join(stateDir, 'state.json'),
      });
      herald = await startTestHerald();
      capture = await startReceiver({ responder: () => ({ status: 204 }) });
      postHook = await createWebhook(herald, {
        url: `${running.url}/hooks/post`,
        events: ['project_created'],
        secret: SECRET,
      });
      putHook = await createWebhook(herald, {
        url: `${running.url}/hooks/put?source=herald`,
        events: ['configuration_saved'],
        secret: SECRET,
        method: 'PUT',
        contentType: 'application/vnd.herald.event+json; charset=utf-8',
      });
      wrongHook = await createWebhook(herald, {
        url: `${running.url}/hooks/wrong`,
        events: ['project_created'],
        secret: WRONG_SECRET,
        maxAttempts: 2,
      });
      // Deliveries to the test's own receiver, to replay them at the example by hand.
      captureHook = await createWebhook(herald, {
        url: `${capture.url}/capture`,
        events: ['tag_created'],
        secret: SECRET,
      });
    });

    after(async () => {
      await running?.stop();
      await herald?.stop({ removeData: true });
      await capture?.close();
      if (stateDir) removeDir(stateDir);
    });

    test('accepts real deliveries over POST and PUT, with every scheme verified', async () => {
      const created = await publish(herald, 'project_created', { tenantId: 'acme', projectId: 'shop' });
      await assertDelivered(herald, postHook, created);

      const saved = await publish(herald, 'configuration_saved', {
        tenantId: 'société-Ω',
        projectId: 'プロジェクト-1',
        revisionName: 'main',
        savedChangesId: 'chg-1',
        author: { id: 'u-1', name: 'Zoë Ångström 🚀 — 张伟' },
        note: 'quotes " and \\ backslashes, tabs\tand a newline\n',
      });
      await assertDelivered(herald, putHook, saved);

      await waitUntil(() => running.output().includes(saved), {
        message: `the example printed no line for ${saved}: ${running.output()}`,
      });
      const accepted = running.output().split('\n').filter((line) => line.includes(created) || line.includes(saved));
      assert.equal(accepted.length, 2, running.output());
    });

    test('refuses the deliveries of a webhook with another secret', async () => {
      // The created event of the first test also went to the wrong-secret webhook.
      const list = await herald.get(`/api/webhooks/${wrongHook}/deliveries`);
      assert.equal(list.body.data.length, 1);
      const delivery = await finishedDelivery(herald, wrongHook, list.body.data[0].eventId);
      assert.equal(delivery.status, 'error');
      assert.equal(delivery.statusCode, 401);
      assert.equal(delivery.attempts, 2);
      assert.match(delivery.responseBody, /X-Mia-Signature does not verify/);
    });

    test('accepts a delivery during a secret rotation', async () => {
      // Created with another secret, then rotated to the example's: webhook-signature lists the
      // new and the previous signature, the other schemes use the new secret.
      const rotated = await createWebhook(herald, {
        url: `${running.url}/hooks/rotated`,
        events: ['service_created'],
        secret: OLD_SECRET,
      });
      const patched = await herald.patch(`/api/webhooks/${rotated}`, { secret: SECRET, keepPreviousSecretFor: 3600 });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const eventId = await publish(herald, 'service_created', { tenantId: 'acme', projectId: 'shop', serviceName: 'api' });
      await assertDelivered(herald, rotated, eventId);
      const delivery = await finishedDelivery(herald, rotated, eventId);
      assert.ok(delivery.requestHeaders, 'the delivery history keeps the request headers');
      assert.equal(delivery.requestHeaders['webhook-signature'].split(' ').length, 2);
    });

    test('refuses a replayed and a tampered copy of a real delivery', async () => {
      const eventId = await publish(herald, 'tag_created', { tenantId: 'acme', projectId: 'shop', tagName: 'v2.0.0' });
      await assertDelivered(herald, captureHook, eventId);
      const original = capture.requests.find((request) => request.headers['webhook-id'] === eventId);
      assert.ok(original, 'the capture receiver got the delivery');
      const headers = copiedHeaders(original);

      // The untouched delivery is accepted once, then refused as a replay.
      assert.deepEqual(await post(running.url, original.body, headers), { status: 204, text: '' });
      assertRefused(await post(running.url, original.body, headers), /already seen/);

      // One byte changed, same length: no scheme verifies any more.
      const tampered = Buffer.from(original.body.toString('utf8').replace('acme', 'acmf'), 'utf8');
      assert.equal(tampered.length, original.body.length);
      assertRefused(await post(running.url, tampered, { ...headers, 'webhook-id': `${eventId}-x` }), /does not verify/);
      assertRefused(await post(running.url, tampered, headers), /does not verify/);

      // The body with a fresh id but the old signatures: the Standard Webhooks signature binds the id.
      const otherId = { ...headers, 'webhook-id': `${eventId}-other` };
      assertRefused(await post(running.url, original.body, otherId), /webhook-signature does not verify/);
    });

    test('refuses stale, out-of-order and incomplete requests', async () => {
      const stale = signed(freshEvent(), { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
      assertRefused(await post(running.url, stale.body, stale.headers), /five minutes/);
      const future = signed(freshEvent(), { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 });
      assertRefused(await post(running.url, future.body, future.headers), /five minutes/);

      const older = signed(freshEvent({}), {});
      const olderEvent = JSON.parse(older.body.toString('utf8'));
      const olderAgain = signed({ ...olderEvent, eventTimestamp: olderEvent.eventTimestamp - 60_000 });
      assertRefused(await post(running.url, olderAgain.body, olderAgain.headers), /older than the newest/);

      const wrong = signed(freshEvent(), { secret: WRONG_SECRET });
      assertRefused(await post(running.url, wrong.body, wrong.headers), /does not verify/);

      for (const name of ['x-mia-signature', 'x-mia-token', 'x-signature', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) {
        const request = signed(freshEvent());
        const { [name]: _left, ...rest } = request.headers;
        assertRefused(await post(running.url, request.body, rest), new RegExp(`missing ${name}`, 'i'));
      }

      // A valid console signature sent twice is still refused.
      const repeated = signed(freshEvent());
      const twice = { ...repeated.headers, 'x-mia-signature': [repeated.headers['x-mia-signature'], repeated.headers['x-mia-signature']] };
      assertRefused(await postRaw(running.url, repeated.body, twice), /repeated X-Mia-Signature/i);

      // Each scheme is checked on its own: one wrong value is enough to refuse.
      for (const name of ['x-mia-token', 'x-signature']) {
        const request = signed(freshEvent());
        const other = signed(freshEvent(), { secret: WRONG_SECRET });
        assertRefused(await post(running.url, request.body, { ...request.headers, [name]: other.headers[name] }), /does not verify/);
      }
    });

    test('accepts any listed v1 signature and a sha256= prefix', async () => {
      // The verifying entry second, after one made with a secret the example does not know.
      const rotation = signed(freshEvent(), { secrets: [OLD_SECRET, SECRET] });
      assert.equal(rotation.headers['webhook-signature'].split(' ').length, 2);
      assert.deepEqual(await post(running.url, rotation.body, rotation.headers), { status: 204, text: '' });

      const noneValid = signed(freshEvent(), { secrets: [OLD_SECRET, WRONG_SECRET] });
      const withValidConsole = signed(JSON.parse(noneValid.body.toString('utf8')), { id: noneValid.headers['webhook-id'] });
      assertRefused(
        await post(running.url, noneValid.body, {
          ...withValidConsole.headers,
          'webhook-signature': noneValid.headers['webhook-signature'],
        }),
        /webhook-signature does not verify/,
      );

      const prefixed = signed(freshEvent());
      const headers = { ...prefixed.headers, 'x-mia-signature': `sha256=${prefixed.headers['x-mia-signature']}` };
      assert.deepEqual(await post(running.url, prefixed.body, headers), { status: 204, text: '' });
    });

    test('refuses everything when no secret is configured', async () => {
      const unconfigured = await startExample(example, {
        HERALD_STATE_FILE: path.join(stateDir, 'unconfigured.json'),
      });
      try {
        const request = signed(freshEvent());
        assertRefused(await post(unconfigured.url, request.body, request.headers), /no secret configured/);
      } finally {
        await unconfigured.stop();
      }
    });
  });
}
