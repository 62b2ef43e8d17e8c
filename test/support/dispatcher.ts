import pino from 'pino';
import { newId } from '../../src/core/ids.js';
import { Dispatcher, type DispatcherOptions } from '../../src/dispatch/index.js';
import { LocalSender } from '../../src/http/index.js';
import type { SqliteStore, Store } from '../../src/store/index.js';
import { instanceWebhook } from './fixtures.js';

/** A dispatcher on `store` for tests on loopback, silent, sending on the test's own thread. */
export function startTestDispatcher(
  store: Store,
  options: Pick<DispatcherOptions, 'workerId' | 'maxInFlight' | 'maxInFlightPerWebhook' | 'deliveryTimeoutMs' | 'retryScheduleMs' | 'clock'>,
): { dispatcher: Dispatcher; stop: () => Promise<void> } {
  const sender = new LocalSender({ allowPrivateNetworks: true, allowedNetworks: [], timeoutMs: options.deliveryTimeoutMs });
  const dispatcher = new Dispatcher({
    store,
    sender,
    logger: pino({ level: 'silent' }),
    shutdownGraceMs: 500,
    ...options,
  });
  dispatcher.start();
  return {
    dispatcher,
    async stop() {
      await dispatcher.stop();
      await sender.close();
    },
  };
}

/** Stores an instance webhook on `project_created` to `url`, and `count` events it hears. */
export async function queueEvents(store: SqliteStore, url: string, count: number): Promise<string> {
  const now = Date.now();
  const webhookId = newId('wh');
  await store.insertWebhook(instanceWebhook({ id: webhookId, url, secret: 'dispatcher-test-secret' }, now));
  const events = Array.from({ length: count }, () => ({
    id: newId('evt'),
    eventName: 'project_created',
    body: '{"eventName":"project_created","eventTimestamp":1,"payload":{}}',
    tenantId: null,
    projectId: null,
  }));
  await store.publishEvents({ events, now });
  return webhookId;
}
