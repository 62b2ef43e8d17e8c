import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config.js';
import { startReceiver, waitUntil } from '../support/index.js';
import type { ReceivedRequest, Receiver } from '../support/index.js';
import { TEST_ADMIN_TOKEN, startTestHerald, type TestHerald } from '../support/herald.js';
import { checkControlled, ensureConsoleBuilt, eventually, launchBrowser, newPage, screenshot, waitForDialog } from '../support/browser.js';
import {
  historyCard,
  historyNotice,
  historyRows,
  localInputValue,
  settingsCard,
  sidewaysOverflow,
  signIn,
  webhookRow,
} from './console-page.js';

/**
 * The console's operator actions in a real browser against a real Herald and a real receiver:
 * a test event, resending one delivery from its drawer, resending every failed delivery since a
 * time, and a webhook Herald disabled by itself shown with its reason and enabled again (with
 * and without resending what failed). Screens are saved under test-artifacts/screenshots/.
 *
 * The tests run in order and share one Herald, one browser and one receiver. Deliveries are made
 * with test events, which go to one webhook only, and every webhook makes one attempt per
 * delivery, so no test's deliveries reach another's webhook and each failure is final at once.
 */

/** Herald disables a webhook after three deliveries given up on in a row, spread over 10 ms. */
const DISABLE_ENV = { HERALD_DISABLE_AFTER: '10ms', HERALD_DISABLE_AFTER_FAILURES: '3' };

interface WebhookSummary {
  id: string;
  active: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
}

interface DeliveryRow {
  id: string;
  eventId: string;
  eventName: string;
  status: 'pending' | 'success' | 'error';
  statusCode: number | null;
  resentFrom: string | null;
}

describe('web console: operator actions', () => {
  let browser: Browser;
  let herald: TestHerald;
  let receiver: Receiver;
  let page: Page;
  /** Paths the receiver answers 500 on; every other path gets 200. */
  const failing = new Set<string>();
  const hooks = { test: '', resend: '', batch: '', down: '', listed: '' };
  const urlOf = (path: string) => `${receiver.url}/ops/${path}`;
  const requestsTo = (path: string): ReceivedRequest[] => receiver.requests.filter((request) => request.url === `/ops/${path}`);
  const bodyOf = (request: ReceivedRequest) => JSON.parse(request.body.toString('utf8'));

  async function createWebhook(path: string, events: string[], extra: Record<string, unknown> = {}): Promise<string> {
    const created = await herald.post('/api/webhooks', {
      url: urlOf(path),
      name: `Operations: ${path}`,
      events,
      maxAttempts: 1,
      ...extra,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id as string;
  }

  async function deliveries(webhookId: string): Promise<DeliveryRow[]> {
    const answer = await herald.get(`/api/webhooks/${webhookId}/deliveries?sort=oldest`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.data;
  }

  async function webhook(webhookId: string): Promise<WebhookSummary> {
    const answer = await herald.get(`/api/webhooks/${webhookId}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  }

  /** A test event queued through the API (to set a scene), waited for until it is final. */
  async function testEventThroughApi(webhookId: string, status: 'success' | 'error'): Promise<DeliveryRow> {
    const queued = await herald.post(`/api/webhooks/${webhookId}/test`, {});
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    return waitUntil(
      async () => (await deliveries(webhookId)).find((row) => row.id === queued.body.deliveryId && row.status === status),
      { message: `test delivery ${queued.body.deliveryId} did not end as ${status}` },
    );
  }

  async function openDetail(webhookId: string, target: Page = page): Promise<void> {
    await target.goto(`${herald.url}/webhooks/${webhookId}`);
    await historyCard(target).waitFor();
    await settingsCard(target).getByText('Target URL').waitFor();
  }

  before(async () => {
    ensureConsoleBuilt();
    receiver = await startReceiver({
      responder: (request) =>
        failing.has(request.url) ? { status: 500, body: 'the receiver is down' } : { status: 200, body: 'ok' },
    });
    const { disableAfterMs, disableAfterFailures } = loadConfig(DISABLE_ENV);
    herald = await startTestHerald({ disableAfterMs, disableAfterFailures });
    browser = await launchBrowser();
    page = await newPage(browser);
    await signIn(page, herald.url, TEST_ADMIN_TOKEN);
  }, { timeout: 600_000 });

  after(async () => {
    await browser?.close();
    await herald?.stop({ removeData: true });
    await receiver?.close();
  });

  test('"Send test event" reaches the receiver, says how it went and shows in the history', async () => {
    hooks.test = await createWebhook('test', ['project_created', 'service_created']);
    await openDetail(hooks.test);
    await historyCard(page).getByText(/No events delivered yet/).waitFor();
    await screenshot(page, '11-operations-empty-history');

    await page.getByRole('button', { name: 'Send test event' }).click();
    const [received] = await receiver.waitForRequests(1);
    assert.equal(received.url, '/ops/test');
    const sent = bodyOf(received);
    assert.equal(sent.eventName, 'project_created');
    assert.deepEqual(sent.payload, { test: true });

    await eventually(async () => {
      const text = await historyNotice(page).innerText();
      assert.match(text, /test event \(project_created\) was delivered: the receiver answered 200/);
    });
    await eventually(async () => {
      const rows = await historyRows(page);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      assert.equal(rows[0]['Event type'], 'project_created');
      assert.match(rows[0].Status, /success\s*200/);
    });
    await screenshot(page, '12-test-event-delivered');

    // Another of the webhook's events, picked from the menu.
    await page.getByRole('button', { name: 'Send a test event of another type' }).click();
    await page.getByRole('menuitem', { name: 'service_created' }).click();
    await eventually(() => assert.equal(requestsTo('test').length, 2));
    assert.equal(bodyOf(requestsTo('test')[1]).eventName, 'service_created');
    await eventually(async () => {
      assert.match(await historyNotice(page).innerText(), /test event \(service_created\) was delivered/);
      assert.deepEqual((await historyRows(page)).map((row) => row['Event type']), ['service_created', 'project_created']);
    });

    // A failing receiver is reported as a failure, with its status code.
    failing.add('/ops/test');
    await page.getByRole('button', { name: 'Send test event' }).click();
    await eventually(async () => assert.match(await historyNotice(page).innerText(), /test event \(project_created\) failed: the receiver answered 500/));
    await eventually(async () => assert.match((await historyRows(page))[0].Status, /error\s*500/));
    await screenshot(page, '12b-test-event-failed');
    failing.delete('/ops/test');
  });

  test('a failed delivery resent from its drawer succeeds once the receiver is back', async () => {
    failing.add('/ops/resend');
    hooks.resend = await createWebhook('resend', ['project_created']);
    const original = await testEventThroughApi(hooks.resend, 'error');
    assert.equal(original.statusCode, 500);
    failing.delete('/ops/resend');

    await openDetail(hooks.resend);
    await eventually(async () => assert.match((await historyRows(page))[0]?.Status ?? '', /error\s*500/));
    await historyCard(page).getByRole('row').filter({ hasText: 'project_created' }).getByRole('button', { name: 'View request' }).click();
    const drawer = page.getByRole('dialog', { name: 'Delivery' });
    await drawer.waitFor();
    await drawer.getByText('Error', { exact: true }).waitFor();

    await drawer.getByRole('button', { name: 'Resend this delivery' }).click();
    await eventually(async () => assert.match(await drawer.innerText(), /The resent delivery was delivered: the receiver answered 200/));
    const resent = await waitUntil(async () => (await deliveries(hooks.resend)).find((row) => row.resentFrom === original.id));
    assert.equal(resent.status, 'success');
    // The same event again: a receiver that drops duplicates by webhook-id would drop it.
    const [first, second] = requestsTo('resend');
    assert.equal(requestsTo('resend').length, 2);
    assert.equal(second.headers['webhook-id'], first.headers['webhook-id']);
    assert.equal(second.body.toString('utf8'), first.body.toString('utf8'));
    await screenshot(page, '13-delivery-resent');

    // The history behind the drawer shows the new success at the top, marked as a resend.
    await eventually(async () => {
      const rows = await historyRows(page);
      assert.equal(rows.length, 2, JSON.stringify(rows));
      assert.match(rows[0].Status, /success\s*200/);
      assert.match(rows[0]['Date and time'], /Resent/);
      assert.match(rows[1].Status, /error\s*500/);
    });

    // The new delivery opens in the drawer, and leads back to the one it was resent from.
    await drawer.getByRole('button', { name: 'Open the new delivery' }).click();
    await drawer.getByText('Resent from', { exact: true }).waitFor();
    await drawer.getByRole('button', { name: `Open the original delivery ${original.id}` }).click();
    await drawer.getByText('Error', { exact: true }).waitFor();
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'hidden' });
  });

  test('"Resend failed…" queues again every delivery given up on since the time picked', async () => {
    failing.add('/ops/batch');
    hooks.batch = await createWebhook('batch', ['project_created']);
    const failed = [await testEventThroughApi(hooks.batch, 'error'), await testEventThroughApi(hooks.batch, 'error')];
    failing.delete('/ops/batch');

    await openDetail(hooks.batch);
    await eventually(async () => assert.equal((await historyRows(page)).length, 2));
    await page.getByRole('button', { name: 'Resend failed deliveries' }).click();
    const dialog = page.getByRole('dialog', { name: 'Resend failed deliveries' });
    await waitForDialog(dialog);
    await eventually(async () => assert.match(await dialog.innerText(), /2 failed deliveries in the history since/));

    // A time of one's own: one in the future is refused before anything is sent.
    await checkControlled(dialog.getByRole('radio', { name: 'Since a date and time' }));
    const field = dialog.getByLabel('Date and time', { exact: true });
    await field.fill(localInputValue(new Date(Date.now() + 2 * 3_600_000)));
    await eventually(async () => assert.equal(await field.getAttribute('aria-invalid'), 'true'));
    await dialog.getByText('A time in the past').waitFor();
    const resend = dialog.getByRole('button', { name: 'Resend the failed deliveries' });
    assert.equal(await resend.isDisabled(), true);
    assert.equal(await dialog.getByText(/No failed delivery in the history since/).count(), 1);

    await field.fill(localInputValue(new Date(Date.now() - 2 * 3_600_000)));
    await eventually(async () => assert.match(await dialog.innerText(), /2 failed deliveries in the history since/));
    await screenshot(page, '14-resend-failed', { fit: dialog });
    const answered = page.waitForResponse(
      (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === `/api/webhooks/${hooks.batch}/resend-failed`,
    );
    await resend.click();
    const response = await answered;
    assert.equal(response.status(), 202);
    const since = Date.parse(JSON.parse(response.request().postData() ?? '{}').since);
    assert.ok(Math.abs(since - (Date.now() - 2 * 3_600_000)) < 120_000, `since ${new Date(since).toISOString()}`);
    await dialog.waitFor({ state: 'hidden' });
    await eventually(async () => assert.match(await historyNotice(page).innerText(), /2 failed deliveries queued again/));

    await eventually(() => assert.equal(requestsTo('batch').length, 4));
    const copies = await waitUntil(async () => {
      const rows = (await deliveries(hooks.batch)).filter((row) => row.resentFrom !== null);
      return rows.length === 2 && rows.every((row) => row.status === 'success') ? rows : null;
    });
    assert.deepEqual(copies.map((row) => row.resentFrom), failed.map((row) => row.id));
    await eventually(async () => {
      const statuses = (await historyRows(page)).map((row) => row.Status);
      assert.equal(statuses.length, 4, JSON.stringify(statuses));
      assert.equal(statuses.filter((status) => /success/.test(status)).length, 2, JSON.stringify(statuses));
    });
    await screenshot(page, '14b-resend-failed-queued');

    // A failed row has its own Resend.
    failing.add('/ops/batch');
    const third = await testEventThroughApi(hooks.batch, 'error');
    failing.delete('/ops/batch');
    await page.getByRole('button', { name: 'Refresh' }).click();
    const failedRows = historyCard(page).getByRole('button', { name: 'Resend the project_created delivery' });
    await eventually(async () => assert.equal(await failedRows.count(), 3));
    await failedRows.first().click();
    await eventually(async () => assert.match(await historyNotice(page).innerText(), /The resent delivery was delivered/));
    const resentThird = await waitUntil(async () => (await deliveries(hooks.batch)).find((row) => row.resentFrom === third.id));
    assert.equal(resentThird.status, 'success');
  });

  test('a webhook Herald disabled shows why in the list and on its page', async () => {
    failing.add('/ops/down');
    hooks.down = await createWebhook('down', ['project_created']);
    for (let i = 0; i < 3; i++) await testEventThroughApi(hooks.down, 'error');
    const disabled = await waitUntil(async () => {
      const current = await webhook(hooks.down);
      return current.active ? null : current;
    });
    assert.match(disabled.disabledReason ?? '', /^no successful delivery since \S+ \(3 deliveries failed in a row\)$/);

    await page.goto(herald.url);
    const row = webhookRow(page, urlOf('down'));
    await row.waitFor();
    const status = row.getByRole('cell').filter({ has: page.getByRole('button', { name: 'Why the webhook is disabled' }) });
    await eventually(async () => assert.match(await status.innerText(), /^\s*Disabled/));
    assert.equal(await row.getByRole('button', { name: 'Re-enable webhook' }).count(), 1);
    // Only the disabled one offers it.
    assert.equal(await webhookRow(page, urlOf('test')).getByRole('button', { name: 'Re-enable webhook' }).count(), 0);
    await row.getByRole('button', { name: 'Why the webhook is disabled' }).click();
    const why = page.getByRole('tooltip').or(page.getByRole('dialog')).filter({ hasText: 'Why it is disabled' });
    await why.waitFor();
    await eventually(async () => assert.ok((await why.innerText()).includes(disabled.disabledReason!), await why.innerText()));
    await screenshot(page, '15-webhooks-disabled');
    await page.getByRole('heading', { name: 'Webhooks' }).click();
    await why.waitFor({ state: 'hidden' });

    await row.getByRole('button', { name: 'Open webhook' }).click();
    await page.waitForURL(`**/webhooks/${hooks.down}`);
    const alert = page.getByRole('alert').filter({ hasText: 'disabled because its deliveries kept failing' });
    await alert.waitFor();
    assert.ok((await alert.innerText()).includes(disabled.disabledReason!));
    await eventually(async () => {
      const text = await settingsCard(page).innerText();
      assert.match(text, /Status\W+Disabled\s+by Herald/);
    });

    // A test event sent now waits: the console says so, and nothing reaches the receiver.
    await page.getByRole('button', { name: 'Send test event' }).click();
    await eventually(async () =>
      assert.match(await historyNotice(page).innerText(), /queued\. The webhook is inactive: it goes out once the webhook is enabled again/),
    );
    await eventually(async () => assert.match((await historyRows(page))[0]?.Status ?? '', /pending/));
    assert.equal(requestsTo('down').length, 3);
    await screenshot(page, '16-webhook-disabled');
  });

  test('re-enabling from its page can resend what failed in the run that disabled it', async () => {
    failing.delete('/ops/down');
    const failed = (await deliveries(hooks.down)).filter((row) => row.status === 'error');
    assert.equal(failed.length, 3);

    await page.getByRole('button', { name: 'Re-enable webhook' }).click();
    const dialog = page.getByRole('dialog', { name: 'Re-enable webhook' });
    await waitForDialog(dialog);
    const resend = dialog.getByRole('checkbox', { name: /Also resend the 3 deliveries that failed since/ });
    await resend.waitFor();
    assert.equal(await resend.isChecked(), false);
    await checkControlled(resend);
    await screenshot(page, '17-re-enable', { fit: dialog });
    await dialog.getByRole('button', { name: 'Re-enable webhook' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await page.getByRole('alert').filter({ hasText: 'disabled because its deliveries kept failing' }).waitFor({ state: 'detached' });
    await eventually(async () => assert.match(await settingsCard(page).innerText(), /Active/));
    // What was said about the inactive webhook is gone with it.
    await eventually(async () => assert.equal((await historyNotice(page).innerText()).trim(), ''));
    const enabled = await webhook(hooks.down);
    assert.deepEqual([enabled.active, enabled.disabledReason, enabled.disabledAt], [true, null, null]);

    // The three failures go out again, and so does the test event that was waiting.
    await eventually(() => assert.equal(requestsTo('down').length, 7), { timeoutMs: 20_000 });
    const copies = await waitUntil(async () => {
      const rows = (await deliveries(hooks.down)).filter((row) => row.resentFrom !== null);
      return rows.length === 3 && rows.every((row) => row.status === 'success') ? rows : null;
    });
    assert.deepEqual(copies.map((row) => row.resentFrom), failed.map((row) => row.id));
    await eventually(async () => {
      const rows = await historyRows(page);
      assert.equal(rows.length, 7, JSON.stringify(rows));
      assert.equal(rows.filter((row) => /success/.test(row.Status)).length, 4, JSON.stringify(rows));
    }, { timeoutMs: 20_000 });
    await screenshot(page, '17b-re-enabled');
  });

  test('re-enabling from the list without resending sends nothing old', async () => {
    failing.add('/ops/listed');
    hooks.listed = await createWebhook('listed', ['project_created']);
    for (let i = 0; i < 3; i++) await testEventThroughApi(hooks.listed, 'error');
    await waitUntil(async () => !(await webhook(hooks.listed)).active);
    failing.delete('/ops/listed');

    await page.goto(herald.url);
    const row = webhookRow(page, urlOf('listed'));
    await row.getByRole('button', { name: 'Re-enable webhook' }).click();
    const dialog = page.getByRole('dialog', { name: 'Re-enable webhook' });
    await waitForDialog(dialog);
    await dialog.getByRole('checkbox', { name: /Also resend the 3 deliveries/ }).waitFor();
    await dialog.getByRole('button', { name: 'Re-enable webhook' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await eventually(async () => assert.match(await row.innerText(), /Active/));
    assert.equal(await row.getByRole('button', { name: 'Re-enable webhook' }).count(), 0);
    assert.equal((await webhook(hooks.listed)).active, true);

    // Nothing was queued again; a new event goes through.
    assert.equal((await deliveries(hooks.listed)).filter((item) => item.resentFrom !== null).length, 0);
    await testEventThroughApi(hooks.listed, 'success');
    assert.equal(requestsTo('listed').length, 4);
  });

  test('a project token operates its own webhook', async () => {
    const projectHook = await createWebhook('project', ['project_created'], { tenantId: 'ops-project', projectId: 'p1' });
    const issued = await herald.post('/api/tokens', { role: 'project', tenantId: 'ops-project', projectId: 'p1' });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const projectPage = await newPage(browser);
    try {
      await signIn(projectPage, herald.url, issued.body.token);
      await webhookRow(projectPage, urlOf('project')).getByRole('button', { name: 'Open webhook' }).click();
      await projectPage.waitForURL(`**/webhooks/${projectHook}`);
      await projectPage.getByRole('button', { name: 'Send test event' }).click();
      await eventually(async () => assert.match(await historyNotice(projectPage).innerText(), /was delivered: the receiver answered 200/));
      assert.equal(requestsTo('project').length, 1);
      await projectPage.getByRole('button', { name: 'Resend failed deliveries' }).waitFor();
    } finally {
      await projectPage.context().close();
    }
  });

  test('a phone-sized window keeps the operations usable', async () => {
    const narrow = await newPage(browser, { width: 390, height: 844 });
    try {
      await signIn(narrow, herald.url, TEST_ADMIN_TOKEN);
      assert.ok((await sidewaysOverflow(narrow)) <= 0, 'the list fits the window');
      await openDetail(hooks.batch, narrow);
      await eventually(async () => assert.ok((await historyRows(narrow)).length >= 4));
      for (const name of ['Send test event', 'Resend failed deliveries']) {
        const button = narrow.getByRole('button', { name });
        const box = await button.boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `"${name}" is inside the window: ${JSON.stringify(box)}`);
      }
      assert.ok((await sidewaysOverflow(narrow)) <= 0, 'the detail page fits the window');
      await screenshot(narrow, '18-operations-narrow');

      await narrow.getByRole('button', { name: 'Resend failed deliveries' }).click();
      const dialog = narrow.getByRole('dialog', { name: 'Resend failed deliveries' });
      await waitForDialog(dialog);
      await checkControlled(dialog.getByRole('radio', { name: 'Since a date and time' }));
      await dialog.getByLabel('Date and time', { exact: true }).waitFor();
      const box = await dialog.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the modal is inside the window: ${JSON.stringify(box)}`);
      await screenshot(narrow, '18b-resend-failed-narrow', { fit: dialog });
    } finally {
      await narrow.context().close();
    }
  });
});
