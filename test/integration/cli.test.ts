import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { renderProgress, ProgressBar } from '../../src/cli/output.js';
import { batchesOf, parseEventsFile } from '../../src/cli/publish-command.js';
import { sinceOption } from '../../src/cli/delivery-commands.js';
import { makeTempDir, removeDir, startReceiver, waitUntil } from '../support/index.js';
import type { Receiver, ReceivedRequest } from '../support/index.js';
import { startTestHerald, TEST_ADMIN_TOKEN, type TestHerald } from '../support/herald.js';
import { runCli, startCli, type CliRun, type RunningCli } from '../support/cli.js';

/**
 * The `herald` command against a real Herald: each command runs as its own process, the way an
 * operator runs it, and its effects are checked where they land (the receiver, Herald's API).
 */

let herald: TestHerald;
/** Where the webhooks created here deliver; `/fail...` paths answer 500. */
let receiver: Receiver;
/** The application `herald listen` forwards to. */
let application: Receiver;
let tempDir: string;
const listeners: RunningCli[] = [];

before(async () => {
  [herald, receiver, application] = await Promise.all([
    // Spawned listeners on a busy machine may take a while to answer; the tests' 2 s would fail them.
    startTestHerald({ deliveryTimeoutMs: 10_000 }),
    startReceiver({ responder: (request) => (request.url.startsWith('/fail') ? { status: 500, body: 'down' } : { status: 200, body: 'ok' }) }),
    startReceiver({ responder: () => ({ status: 201, body: 'the application got it', headers: { 'x-application': 'yes' } }) }),
  ]);
  tempDir = makeTempDir('herald-cli-');
});

after(async () => {
  await Promise.all(listeners.map((listener) => listener.stop()));
  await herald?.stop({ removeData: true });
  await Promise.all([receiver?.close(), application?.close()]);
  removeDir(tempDir);
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { HERALD_URL: herald.url, HERALD_TOKEN: TEST_ADMIN_TOKEN, ...extra };
}

async function cli(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliRun> {
  return runCli(args, { env: env(options.env), input: options.input });
}

/** Runs a command that must succeed and returns its JSON output. */
async function cliJson(args: string[], input?: string): Promise<any> {
  const run = await cli([...args, '--json'], { input });
  assert.equal(run.code, 0, `herald ${args.join(' ')} failed:\n${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout);
}

function assertFailed(run: CliRun, code: number, ...fragments: string[]): void {
  assert.equal(run.code, code, `expected exit ${code}:\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  for (const fragment of fragments) assert.ok(run.stderr.includes(fragment), `stderr lacks "${fragment}":\n${run.stderr}`);
}

const requestsTo = (path: string): ReceivedRequest[] => receiver.requests.filter((request) => request.url === path);

async function waitForStatus(webhookId: string, deliveryId: string, status: string): Promise<any> {
  return waitUntil(async () => {
    const answer = await herald.get(`/api/webhooks/${webhookId}/deliveries/${deliveryId}`);
    return answer.body.status === status ? answer.body : null;
  }, { message: `delivery ${deliveryId} never reached ${status}` });
}

/** A port nothing listens on: bound once by the system, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function hmac(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Every part works on its own webhooks and tenants, so they run side by side. */
describe('herald command line', { concurrency: true }, () => {
  describe('herald webhooks, publish, deliveries and resend', { concurrency: true }, () => {
    test('a webhook created, listed, published to, inspected, resent, tested and deleted from the command line', async () => {
      const created = await cliJson([
        'webhooks', 'create', '--url', `${receiver.url}/main`, '--events', 'project_created,tag_created',
        '--tenant', 'acme', '--name', 'from the cli', '--max-attempts', '2',
      ]);
      assert.match(created.id, /^wh_/);
      assert.equal(created.scope, 'company');
      assert.deepEqual(created.events, ['project_created', 'tag_created']);
      assert.equal(created.maxAttempts, 2);
      assert.equal(typeof created.secret, 'string', 'a generated secret is printed once');

      const [listed, table, published] = await Promise.all([
        cliJson(['webhooks', 'list', '--tenant', 'acme']),
        cli(['webhooks', 'list', '--scope', 'company']),
        cliJson(['publish', 'project_created', '--payload', '{"tenantId":"acme","projectId":"shop"}']),
      ]);
      assert.deepEqual(listed.data.map((webhook: { id: string }) => webhook.id), [created.id]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^ID\s+URL\s+EVENTS\s+SCOPE\s+ACTIVE\s+LAST EVENT$/m);
      assert.match(table.stdout, new RegExp(`^${created.id}\\s+${receiver.url}/main\\s+project_created,tag_created\\s+company acme\\s+yes`, 'm'));
      assert.equal(published.deliveries, 1);

      // The secret the command printed is the one Herald signs with.
      const [delivered] = await waitUntil(() => (requestsTo('/main').length >= 1 ? requestsTo('/main') : null));
      assert.equal(JSON.parse(delivered.body.toString()).payload.projectId, 'shop');
      assert.equal(delivered.headers['x-signature'], hmac(created.secret, delivered.body));
      const deliveryId = await waitUntil(async () => {
        const rows = (await herald.get(`/api/webhooks/${created.id}/deliveries?status=success`)).body.data;
        return rows.find((row: { eventId: string }) => row.eventId === published.id)?.id as string | undefined;
      });

      // Reading the history, resending and testing at once: the reads look only at the first delivery.
      const [history, historyTable, detail, resent, tested] = await Promise.all([
        cliJson(['deliveries', created.id, '--status', 'success', '--event', 'project_created']),
        cli(['deliveries', created.id, '--sort', 'oldest']),
        cli(['deliveries', created.id, deliveryId]),
        cliJson(['resend', created.id, deliveryId]),
        cli(['webhooks', 'test', created.id, '--event', 'tag_created']),
      ]);
      const first = history.data.find((row: { id: string }) => row.id === deliveryId);
      assert.equal(first.statusCode, 200);
      assert.equal(first.eventId, published.id);
      assert.match(historyTable.stdout, new RegExp(`^${deliveryId}\\s+project_created\\s+success\\s+200\\s+1\\s`, 'm'));
      assert.match(detail.stdout, /^request body$/m);
      assert.match(detail.stdout, /"projectId": "shop"/);
      assert.match(detail.stdout, /^ {2}x-signature: [0-9a-f]{64}$/m);

      assert.match(resent.deliveryId, /^dlv_/);
      assert.notEqual(resent.deliveryId, deliveryId);
      assert.equal(tested.code, 0, tested.stderr);
      const testDelivery = /delivery (\S+)/.exec(tested.stdout)![1];
      const requests = await waitUntil(() => (requestsTo('/main').length >= 3 ? requestsTo('/main') : null));
      const bodies = requests.map((request) => JSON.parse(request.body.toString()));
      assert.equal(requests.filter((request) => request.body.equals(delivered.body)).length, 2, 'a resend sends the same bytes');
      assert.deepEqual(bodies.find((body) => body.eventName === 'tag_created').payload, { test: true, tenantId: 'acme' });
      const resentRow = await waitForStatus(created.id, resent.deliveryId, 'success');
      assert.equal(resentRow.resentFrom, deliveryId);
      assert.equal(resentRow.attempts, 1);
      await waitForStatus(created.id, testDelivery, 'success');

      const deleted = await cli(['webhooks', 'delete', created.id, '--yes']);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(deleted.stdout, `deleted ${created.id}\n`);
      assert.equal((await herald.get(`/api/webhooks/${created.id}`)).status, 404);
    });

    test('a payload on stdin, an idempotency key, and a secret of ours that is never printed', async () => {
      const payload = '{"tenantId":"stdin-co","projectId":"p1"}';
      const [created, first] = await Promise.all([
        cli([
          'webhooks', 'create', '--url', `${receiver.url}/stdin`, '--events', 'project_created', '--tenant', 'stdin-co',
          '--secret', 'a-secret-we-chose', '--inactive',
        ]),
        cli(['publish', 'project_created', '--idempotency-key', 'cli-key-1'], { input: payload }),
      ]);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /^created wh_\S+: POST http:\/\/127\.0\.0\.1:\d+\/stdin \(company stdin-co\)$/m);
      assert.match(created.stdout, /; inactive$/m);
      assert.equal(created.stdout.includes('a-secret-we-chose'), false);
      assert.equal(created.stderr.includes('shown this once'), false);

      // An inactive webhook receives nothing, so the event goes nowhere.
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^published evt_\S+ \(project_created\) to 0 webhooks$/m);
      const repeat = await cli(['publish', 'project_created', '--idempotency-key', 'cli-key-1'], { input: payload });
      assert.equal(repeat.stdout, first.stdout, 'the repeat answers with the first event');
      assert.match(repeat.stderr, /published nothing new/);
    });

    test('resend --failed-since queues what was given up on and --wait follows it to its end', async () => {
      const created = await herald.post('/api/webhooks', {
        url: `${receiver.url}/fail-since`, events: ['project_created'], tenantId: 'failing', maxAttempts: 1,
      });
      const published = await herald.post('/api/events', { eventName: 'project_created', payload: { tenantId: 'failing', projectId: 'p' } });
      assert.equal(published.status, 202);
      const webhookId = created.body.id as string;
      await waitUntil(async () => (await herald.get(`/api/webhooks/${webhookId}/deliveries?status=error`)).body.data.length === 1);

      const run = await cli(['resend', webhookId, '--failed-since', '1h', '--wait']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^queued 1 delivery given up on since .* again$/m);
      assert.match(run.stdout, /^done: 0 delivered, 1 failed again$/m);
      assert.equal(run.stderr, '', 'no progress bar off a terminal');
      assert.equal(requestsTo('/fail-since').length, 2);
    });
  });

  describe('herald publish --file', { concurrency: true }, () => {
    test('2500 NDJSON events go in three batches and are all accepted', async () => {
      const file = path.join(tempDir, 'events.ndjson');
      const lines = Array.from({ length: 2500 }, (_, index) =>
        JSON.stringify({ eventName: 'tag_deleted', payload: { tenantId: 'bulk', projectId: 'p', tagName: `v${index}` } }),
      );
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
      const [json, human] = await Promise.all([
        cliJson(['publish', '--file', file]),
        cli(['publish', '--file', file, '--idempotency-key', 'bulk-run']),
      ]);
      assert.equal(json.events.length, 2500);
      assert.equal(new Set(json.events.map((event: { id: string }) => event.id)).size, 2500);
      assert.equal(human.code, 0, human.stderr);
      assert.equal(human.stdout, 'published 2500 events in 3 batches; 0 deliveries queued\n');
      assert.equal(human.stderr, '', 'no progress bar off a terminal');
    });

    test('a refused event is named by its line, with what was accepted before it', async () => {
      const file = path.join(tempDir, 'bad.ndjson');
      const good = JSON.stringify({ eventName: 'tag_deleted', payload: { tenantId: 'bulk', projectId: 'p', tagName: 'ok' } });
      const bad = JSON.stringify({ eventName: 'tag_deleted', payload: { tenantId: 'bulk', projectId: 'p', tagName: 7 } });
      fs.writeFileSync(file, `${good}\n\n${bad}\n`);
      assertFailed(await cli(['publish', '--file', file]), 1, 'line 3: payload.tagName', '0 events before this batch were accepted');
    });
  });

  describe('herald listen', () => {
    test('checks every signature, forwards the exact request and answers Herald with the application', async () => {
      const secret = 'listen-secret-0123';
      const deadPort = await closedPort();
      const good = startCli(['listen', '--forward-to', `${application.url}/hooks/app`, '--port', '0', '--secret', secret, '--json'], { env: {} });
      const wrong = startCli(['listen', '--forward-to', `http://127.0.0.1:${deadPort}/nowhere`, '--port', '0', '--secret', 'not-the-secret'], { env: {} });
      listeners.push(good, wrong);
      const [goodAddress, wrongAddress] = await Promise.all(
        [good, wrong].map((listener) => listener.waitForOutput(/listening on (http:\/\/127\.0\.0\.1:\d+)/)),
      );

      const webhooks = await Promise.all(
        [goodAddress[1], wrongAddress[1]].map((address, index) =>
          herald.post('/api/webhooks', {
            url: `${address}/from-herald`, events: ['service_created'], tenantId: `listen-${index}`, secret, maxAttempts: 1,
          }),
        ),
      );
      for (const [index] of webhooks.entries()) {
        const published = await herald.post('/api/events', {
          eventName: 'service_created', payload: { tenantId: `listen-${index}`, projectId: 'p', serviceName: 'api' },
        });
        assert.equal(published.status, 202);
      }

      // The listener with the right secret: every scheme verifies, and the application gets the request as Herald sent it.
      const line = JSON.parse((await good.waitForOutput(/^\{.*\}$/m))[0]);
      assert.equal(line.eventName, 'service_created');
      assert.deepEqual(line.signatures, { 'x-mia-signature': 'valid', 'x-signature': 'valid', 'webhook-signature': 'valid' });
      assert.equal(line.forward.status, 201);
      const [forwarded] = await application.waitForRequests(1);
      assert.equal(forwarded.method, 'POST');
      assert.equal(forwarded.url, '/hooks/app');
      const goodWebhook = webhooks[0].body.id as string;
      const recorded = await waitUntil(async () => {
        const rows = (await herald.get(`/api/webhooks/${goodWebhook}/deliveries`)).body.data;
        if (rows[0]?.status === 'success') return rows[0];
        throw new Error(JSON.stringify(rows));
      }, { message: 'the delivery through listen never succeeded' });
      assert.equal(recorded.statusCode, 201, 'Herald records the application status');
      const detail = (await herald.get(`/api/webhooks/${goodWebhook}/deliveries/${recorded.id}`)).body;
      assert.deepEqual(forwarded.body, Buffer.from(detail.requestBody), 'the application gets the same body bytes');
      assert.equal(detail.responseBody, 'the application got it');
      assert.equal(line.webhookId, forwarded.headers['webhook-id']);
      for (const name of ['x-mia-signature', 'x-signature', 'webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type']) {
        assert.equal(forwarded.headers[name], detail.requestHeaders[name], `${name} is forwarded unchanged`);
      }
      assert.equal(forwarded.headers['x-signature'], hmac(secret, forwarded.body));

      // The listener with a wrong secret says so for each scheme, and a failed forward is a 502 for Herald.
      await wrong.waitForOutput(/forward FAILED/);
      assert.match(
        wrong.stdout(),
        /signatures: FAILED \(x-mia-signature invalid: bad-signature, x-signature invalid: bad-signature, webhook-signature invalid: bad-signature\)/,
      );
      assert.match(wrong.stdout(), /service_created/);
      const failed = await waitUntil(async () => {
        const rows = (await herald.get(`/api/webhooks/${webhooks[1].body.id}/deliveries`)).body.data;
        return rows[0]?.status === 'error' ? rows[0] : null;
      });
      assert.equal(failed.statusCode, 502);

      assert.deepEqual(await Promise.all([good.stop(), wrong.stop()]), [0, 0], 'listen stops cleanly on SIGTERM');
    });
  });

  describe('errors people see', () => {
    test('a bad token, an unreachable Herald, a missing token, a refused field and a misused option', async () => {
      const port = await closedPort();
      const [badToken, unreachable, noToken, badUrl, badOption, unknownEvent, unknownWebhook, noPayload, deleteUnasked, resendWhat] =
        await Promise.all([
          cli(['webhooks', 'list', '--token', 'not-a-valid-token-at-all']),
          cli(['webhooks', 'list', '--url', `http://127.0.0.1:${port}`]),
          runCli(['webhooks', 'list'], { env: { HERALD_URL: herald.url } }),
          cli(['webhooks', 'create', '--url', 'ftp://example.com/hook', '--events', 'project_created']),
          cli(['deliveries', 'wh_x', '--status', 'maybe']),
          cli(['publish', 'no_such_event', '--payload', '{}']),
          cli(['deliveries', 'wh_does_not_exist']),
          cli(['publish', 'project_created']),
          cli(['webhooks', 'delete', 'wh_whatever']),
          cli(['resend', 'wh_whatever']),
        ]);
      assertFailed(badToken, 1, '401 unauthorized', 'check the token', 'HERALD_TOKEN');
      assertFailed(unreachable, 1, `is Herald running at http://127.0.0.1:${port}?`, 'npm start', 'ECONNREFUSED');
      assertFailed(noToken, 2, 'HERALD_TOKEN', '`herald token create');
      assertFailed(badUrl, 1, 'url: ', '400 validation_failed', 'check --url');
      assertFailed(badOption, 2, "'maybe' is invalid");
      assertFailed(unknownEvent, 1, 'unknown_event_type', 'event-types');
      assertFailed(unknownWebhook, 1, '404 not_found', "outside your token's reach");
      assertFailed(noPayload, 2, 'stdin was empty');
      // Off a terminal nobody can answer "are you sure?": --yes is required, and nothing is asked of Herald.
      assertFailed(deleteUnasked, 2, 'add --yes');
      assertFailed(resendWhat, 2, '--failed-since');
      for (const run of [badToken, unreachable, noToken, badUrl, unknownWebhook, deleteUnasked]) {
        assert.equal(run.stdout, '', 'errors go to stderr only');
        assert.equal(run.stderr.trim().split('\n').length, 2, `one line and a hint:\n${run.stderr}`);
      }
    });
  });

  describe('pieces without a Herald', () => {
    test('the progress bar draws only on a terminal, with count, total and rate', () => {
      assert.equal(
        renderProgress('publishing', { done: 1000, total: 2500, elapsedMs: 500, width: 10 }),
        'publishing [####......] 1000/2500 40% 2000/s',
      );
      let now = 0;
      const written: string[] = [];
      const terminal = { isTTY: true, columns: 100, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
      const bar = ProgressBar.start('sending', 4, terminal, () => now);
      now = 1000;
      bar.update(2);
      bar.update(3); // within the redraw interval: skipped
      now = 2000;
      bar.finish();
      assert.deepEqual(written.map((text) => text.replace('\r\x1b[2K', '')), [
        'sending [..............................] 0/4 0% -/s',
        'sending [###############...............] 2/4 50% 2/s',
        'sending [#######################.......] 3/4 75% 2/s',
        '\n',
      ]);

      const pipe = { isTTY: false, write: () => assert.fail('drew on a pipe') } as unknown as NodeJS.WriteStream;
      const silent = ProgressBar.start('sending', 4, pipe);
      silent.update(4);
      silent.finish();
    });

    test('events files: arrays, NDJSON, batches of at most 1000, and durations for --failed-since', () => {
      const event = { eventName: 'tag_deleted', payload: {} };
      assert.deepEqual(parseEventsFile(JSON.stringify([event, event]), 'f').map((item) => item.origin), ['[0]', '[1]']);
      assert.deepEqual(parseEventsFile(`${JSON.stringify(event)}\n\n${JSON.stringify(event)}\n`, 'f').map((item) => item.origin), ['line 1', 'line 3']);
      assert.throws(() => parseEventsFile('{"payload":{}}', 'f'), /f line 1 is not an event/);
      assert.throws(() => parseEventsFile('\n', 'f'), /holds no events/);
      assert.throws(() => parseEventsFile(`${JSON.stringify(event)}\nnot json\n`, 'f'), /f line 2 is not JSON/);
      const many = Array.from({ length: 2500 }, () => ({ event, origin: '' }));
      assert.deepEqual(batchesOf(many).map((batch) => batch.length), [1000, 1000, 500]);

      const now = Date.parse('2026-01-31T12:00:00Z');
      assert.equal(sinceOption('2h', now), '2026-01-31T10:00:00.000Z');
      assert.equal(sinceOption('2026-01-31T12:00:00+02:00', now), '2026-01-31T10:00:00.000Z');
      assert.throws(() => sinceOption('yesterday', now), /neither a time nor a duration/);
    });
  });
});
