import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { webhookHearsEvent } from '../../src/core/types.js';

describe('configuration', () => {
  test('defaults match the README', () => {
    const config = loadConfig({}, '/srv');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, path.resolve('/srv', 'data'));
    assert.equal(config.adminToken, null);
    assert.equal(config.allowPrivateNetworks, false);
    assert.deepEqual(config.retryScheduleMs, [5_000, 30_000, 120_000, 600_000, 3_600_000]);
    assert.equal(config.deliveryTimeoutMs, 10_000);
    assert.equal(config.eventTimestampUnit, 'ms');
    assert.equal(config.sendThreads, availableParallelism() > 1 ? 1 : 0);
    assert.equal(config.storeThread, availableParallelism() > 1);
  });

  test('reads every documented variable', () => {
    const config = loadConfig({
      HERALD_PORT: '9000',
      HERALD_DATA_DIR: '/var/lib/herald',
      HERALD_ADMIN_TOKEN: 'a-long-enough-admin-token',
      HERALD_ALLOW_PRIVATE_NETWORKS: '1',
      HERALD_RETRY_SCHEDULE: '1s,2s',
      HERALD_DELIVERY_TIMEOUT_MS: '2500',
      HERALD_EVENT_TIMESTAMP_UNIT: 's',
      HERALD_SEND_THREADS: '3',
      HERALD_STORE_THREAD: '0',
    });
    assert.equal(config.port, 9000);
    assert.equal(config.dataDir, '/var/lib/herald');
    assert.equal(config.adminToken, 'a-long-enough-admin-token');
    assert.equal(config.allowPrivateNetworks, true);
    assert.deepEqual(config.retryScheduleMs, [1_000, 2_000]);
    assert.equal(config.deliveryTimeoutMs, 2_500);
    assert.equal(config.eventTimestampUnit, 's');
    assert.equal(config.sendThreads, 3);
    assert.equal(config.storeThread, false);
    assert.equal(loadConfig({ HERALD_STORE_THREAD: '1' }).storeThread, true);
  });

  test('bad values fail at start-up, naming the variable', () => {
    assert.throws(() => loadConfig({ HERALD_PORT: 'eighty' }), /HERALD_PORT/);
    assert.throws(() => loadConfig({ HERALD_PORT: '70000' }), /HERALD_PORT/);
    assert.throws(() => loadConfig({ HERALD_ALLOW_PRIVATE_NETWORKS: 'maybe' }), /HERALD_ALLOW_PRIVATE_NETWORKS/);
    assert.throws(() => loadConfig({ HERALD_RETRY_SCHEDULE: '5 seconds' }), /HERALD_RETRY_SCHEDULE/);
    assert.throws(() => loadConfig({ HERALD_DELIVERY_TIMEOUT_MS: '0' }), /HERALD_DELIVERY_TIMEOUT_MS/);
    assert.throws(() => loadConfig({ HERALD_ADMIN_TOKEN: 'short' }), /HERALD_ADMIN_TOKEN/);
    assert.throws(() => loadConfig({ HERALD_SEND_THREADS: '-1' }), /HERALD_SEND_THREADS/);
    assert.throws(() => loadConfig({ HERALD_SEND_THREADS: '17' }), /HERALD_SEND_THREADS/);
  });

  test('hardening settings: defaults, parsing and validation', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.rateLimitPerMinute, 6_000);
    assert.equal(defaults.maxWebhooksPerScope, 500);
    assert.equal(defaults.maxHeaderBytes, 16 * 1024);
    assert.equal(defaults.hsts, false);
    assert.deepEqual(defaults.corsOrigins, []);
    assert.deepEqual(defaults.allowedNetworks, []);
    assert.equal(defaults.metricsPublic, false);
    assert.equal(loadConfig({ HERALD_METRICS_PUBLIC: '1' }).metricsPublic, true);
    assert.throws(() => loadConfig({ HERALD_METRICS_PUBLIC: 'maybe' }), /HERALD_METRICS_PUBLIC/);

    const config = loadConfig({
      HERALD_RATE_LIMIT_PER_MINUTE: '0',
      HERALD_MAX_WEBHOOKS_PER_SCOPE: '20',
      HERALD_MAX_HEADER_BYTES: '8192',
      HERALD_HSTS: '1',
      HERALD_CORS_ORIGINS: 'https://console.example.com, http://localhost:3000',
      HERALD_ALLOWED_NETWORKS: '10.20.0.0/16 ,fd00:1::/64,192.168.1.7',
    });
    assert.equal(config.rateLimitPerMinute, 0);
    assert.equal(config.maxWebhooksPerScope, 20);
    assert.equal(config.maxHeaderBytes, 8192);
    assert.equal(config.hsts, true);
    assert.deepEqual(config.corsOrigins, ['https://console.example.com', 'http://localhost:3000']);
    assert.deepEqual(config.allowedNetworks, ['10.20.0.0/16', 'fd00:1::/64', '192.168.1.7']);

    for (const bad of ['10.0.0.0/33', 'intranet', '10.1/8', '::1/200']) {
      assert.throws(() => loadConfig({ HERALD_ALLOWED_NETWORKS: bad }), /HERALD_ALLOWED_NETWORKS/, bad);
    }
    for (const bad of ['*', 'https://console.example.com/', 'console.example.com', 'ftp://x.example', 'https://A.example']) {
      assert.throws(() => loadConfig({ HERALD_CORS_ORIGINS: bad }), /HERALD_CORS_ORIGINS/, bad);
    }
    assert.throws(() => loadConfig({ HERALD_RATE_LIMIT_PER_MINUTE: '-1' }), /HERALD_RATE_LIMIT_PER_MINUTE/);
    assert.throws(() => loadConfig({ HERALD_MAX_WEBHOOKS_PER_SCOPE: '0' }), /HERALD_MAX_WEBHOOKS_PER_SCOPE/);
    assert.throws(() => loadConfig({ HERALD_MAX_HEADER_BYTES: '100' }), /HERALD_MAX_HEADER_BYTES/);
    assert.throws(() => loadConfig({ HERALD_HSTS: 'on' }), /HERALD_HSTS/);
  });
});

describe('scope rule', () => {
  const event = { tenantId: 't1', projectId: 'p1' };
  const base = { events: ['project_created'], active: true };

  test('instance webhooks hear every subscribed event', () => {
    assert.equal(webhookHearsEvent({ ...base, tenantId: null, projectId: null }, 'project_created', event), true);
    assert.equal(
      webhookHearsEvent({ ...base, tenantId: null, projectId: null }, 'project_created', { tenantId: null, projectId: null }),
      true,
    );
  });

  test('company webhooks hear only their company', () => {
    assert.equal(webhookHearsEvent({ ...base, tenantId: 't1', projectId: null }, 'project_created', event), true);
    assert.equal(webhookHearsEvent({ ...base, tenantId: 't2', projectId: null }, 'project_created', event), false);
  });

  test('project webhooks hear only their project', () => {
    assert.equal(webhookHearsEvent({ ...base, tenantId: 't1', projectId: 'p1' }, 'project_created', event), true);
    assert.equal(webhookHearsEvent({ ...base, tenantId: 't1', projectId: 'p2' }, 'project_created', event), false);
    assert.equal(webhookHearsEvent({ ...base, tenantId: 't2', projectId: 'p1' }, 'project_created', event), false);
  });

  test('inactive webhooks and other events are not heard', () => {
    assert.equal(webhookHearsEvent({ ...base, active: false, tenantId: null, projectId: null }, 'project_created', event), false);
    assert.equal(webhookHearsEvent({ ...base, tenantId: null, projectId: null }, 'tag_created', event), false);
  });
});
