import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { startReceiver, waitUntil } from '../support/index.js';
import type { Receiver } from '../support/index.js';
import { startTestHerald, TEST_ADMIN_TOKEN } from '../support/herald.js';
import type { TestHerald } from '../support/herald.js';

/**
 * Generated garbage for every /api route (read from the router): random JSON, wrong types,
 * huge strings, deep nesting, bad UTF-8, truncated JSON, odd numbers, prototype-pollution keys,
 * random path parameters and query strings. Every request is built to be refused, so every
 * answer must be a 4xx in Herald's error shape, and nothing may be stored.
 *
 * Reproduce a failure with the seed it prints: HERALD_FUZZ_SEED=<seed> node --import tsx --test
 * test/integration/fuzz.test.ts (each route draws from its own stream, so one route can be
 * rerun alone with --test-name-pattern).
 */

const SEED = process.env.HERALD_FUZZ_SEED ? Number(process.env.HERALD_FUZZ_SEED) : randomInt(2 ** 31);
const REQUESTS_PER_ROUTE = 250;
/** Requests with a 1 MB or 10000-deep body, per route: enough to hit every parser path. */
const HEAVY_PER_ROUTE = 6;
const REQUEST_TIMEOUT_MS = 10_000;
const ONE_MB = 1024 * 1024;
const DEPTH = 10_000;
const CATALOGUED = new Set(Object.keys(ERROR_CATALOGUE));

// ---------------------------------------------------------------------------------------------
// A small seeded PRNG (mulberry32) and helpers over it

type Random = ReturnType<typeof randomSource>;

function randomSource(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => next() < p;
  // By code point, so a character outside the BMP is never split into a lone surrogate.
  const text = (length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789_-') => {
    const chars = Array.from(alphabet);
    return Array.from({ length }, () => chars[int(chars.length)]).join('');
  };
  return { next, int, pick, chance, text };
}

/** FNV-1a, to give each route a stream of its own derived from the one seed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const WILD_CHARS = 'abcXYZ019 _-.~!$&\'()*+,;=:@%/?#[]"\\<>{}|^`\t\u00e9\u00fc\u4e2d\u{1f4a5}\u0000\u202e';

/** Any JSON value, up to `depth` levels; object keys never match a known field. */
function randomJson(random: Random, depth = 3): unknown {
  const kind = random.int(depth > 0 ? 8 : 6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick([0, -1, 1.5, 2 ** 53 + 1, -(2 ** 31), 1e-7, random.int(1e9)]);
    case 3:
      return random.text(random.int(20), WILD_CHARS);
    case 4:
      return '';
    case 5:
      return random.text(random.int(8));
    case 6:
      return Array.from({ length: random.int(4) }, () => randomJson(random, depth - 1));
    default:
      return Object.fromEntries(
        Array.from({ length: 1 + random.int(3) }, () => [`zz${random.text(1 + random.int(8), WILD_CHARS)}`, randomJson(random, depth - 1)]),
      );
  }
}

// ---------------------------------------------------------------------------------------------
// What each route takes

type FieldKind = 'string' | 'nullable-string' | 'boolean' | 'integer' | 'timestamp' | 'string-list' | 'object' | 'nullable-object' | 'enum' | 'event-list';

/** Values of the wrong type (or out of range) for a field, as raw JSON text. */
const WRONG_VALUES: Record<FieldKind, string[]> = {
  string: ['1', '-0', 'true', 'null', '[]', '["a"]', '{}', '{"a":"b"}', '1e400'],
  'nullable-string': ['1', '-0', 'false', '[]', '["a"]', '{}', '1e400'],
  boolean: ['"true"', '1', '0', '-0', 'null', '[]', '{}', '"false"'],
  integer: ['"6"', '6.5', 'true', 'null', '[]', '{}', '0', '-0', '21', '-1', '1e400', '-1e400', '1e-400', '9007199254740993'],
  // Zero is a valid timestamp, so -0 and 1e-400 (which read as 0) are not wrong here.
  timestamp: ['"1"', 'true', 'null', '[]', '{}', '-1', '1e400', '-1e400', '"2025-01-01T00:00:00Z"'],
  'string-list': ['"project_created"', '1', 'null', '{}', '[]', '[1]', '[null]', '[[]]', '[{}]', '[""]', 'true'],
  object: ['[]', '"x"', '1', '-0', 'null', 'true', '[{}]'],
  'nullable-object': ['[]', '"x"', '1', 'true', '{}', '{"url":1}', '{"url":"http://p:3128","zz":1}'],
  enum: ['"zz"', '1', 'null', 'true', '[]', '{}', '""', '"post"', '"ADMIN"'],
  'event-list': ['"x"', '1', 'null', '{}', '[]', '[1]', '[{}]', '[{"eventName":"project_created"}]', '[null]'],
};

/** Known-invalid raw numbers (NaN and Infinity are not JSON at all). */
const ODD_NUMBERS = ['NaN', 'Infinity', '-Infinity', '1e400', '-1e400', '-0', '0x10', '+1', '.5', '01'];

interface BodySpec {
  /** A valid body: every generated request breaks it in exactly the way it names. */
  base: () => Record<string, unknown>;
  fields: Record<string, FieldKind>;
  /** Fields (dotted paths) whose value may carry injected bytes: strings in the base. */
  stringFields: string[];
  /** A body that holds `deep` (raw JSON text) somewhere the route would otherwise accept. */
  deepBodies?: Array<(deep: string) => string>;
}

type QuerySpec =
  | { kind: 'strict'; bad: Array<(random: Random) => string> }
  | { kind: 'ignored' };

interface RouteSpec {
  body?: BodySpec;
  query: QuerySpec;
  /** Path parameter -> an existing value (the route's own faults then come from elsewhere). */
  params?: Record<string, () => string>;
}

const WEBHOOK_FIELDS: Record<string, FieldKind> = {
  name: 'nullable-string',
  url: 'string',
  events: 'string-list',
  secret: 'string',
  tenantId: 'nullable-string',
  projectId: 'nullable-string',
  method: 'enum',
  contentType: 'string',
  maxAttempts: 'integer',
  active: 'boolean',
  base64CA: 'nullable-string',
  proxy: 'nullable-object',
};

const fixtures = { listener: '', hook: '', delivery: '', token: '' };
/** A custom event type without a schema: any payload object is valid for it. */
const FREE_FORM_TYPE = 'fuzz_free_form';
let serial = 0;

const SPECS: Record<string, RouteSpec> = {
  'GET /api/webhooks': {
    query: {
      kind: 'strict',
      bad: [
        (r) => `scope=${r.pick(['zz', 'Instance', 'all', '', 'company,project'])}`,
        (r) => `limit=${r.pick(['0', '1001', '99999', 'abc', '-1', '1.5', '', '1e3', ' 5'])}`,
        (r) => `event=zz${r.text(5)}`,
        (r) => `event=${r.pick(['', 'x'.repeat(101)])}`,
        (r) => `${r.pick(['tenantId', 'projectId', 'after'])}=${r.pick(['', 'x'.repeat(129)])}`,
        (r) => {
          const key = r.pick(['tenantId', 'projectId', 'scope', 'limit', 'event', 'after']);
          return `${key}=a&${key}=b`;
        },
      ],
    },
  },
  'POST /api/webhooks': {
    body: {
      base: () => ({ url: 'https://hooks.example.com/fuzz', events: ['project_created'], secret: 'fuzz-secret-1234', active: false }),
      fields: { ...WEBHOOK_FIELDS, eventName: 'string', target: 'string', 'proxy.url': 'string' },
      stringFields: ['url', 'secret'],
    },
    query: { kind: 'ignored' },
  },
  'GET /api/webhooks/:id': { query: { kind: 'ignored' }, params: { id: () => fixtures.hook } },
  'PATCH /api/webhooks/:id': {
    body: { base: () => ({ name: 'fuzzed name' }), fields: { ...WEBHOOK_FIELDS, 'proxy.url': 'string' }, stringFields: ['name'] },
    query: { kind: 'ignored' },
    params: { id: () => fixtures.hook },
  },
  'DELETE /api/webhooks/:id': { query: { kind: 'ignored' }, params: { id: () => fixtures.hook } },
  'GET /api/webhooks/:id/deliveries': {
    query: {
      kind: 'strict',
      bad: [
        (r) => `sort=${r.pick(['zz', 'Newest', '', 'asc'])}`,
        (r) => `status=${r.pick(['zz', 'ok', '', 'SUCCESS'])}`,
        (r) => `statusCode=${r.pick(['99', '600', 'abc', '2000', '', '20x'])}`,
        (r) => `eventName=${r.pick(['', 'x'.repeat(101)])}`,
        (r) => `${r.pick(['sort', 'status', 'statusCode'])}=a&${r.pick(['sort', 'status', 'statusCode'])}=b`,
      ],
    },
    params: { id: () => fixtures.listener },
  },
  'GET /api/webhooks/:id/deliveries/:deliveryId': {
    query: { kind: 'ignored' },
    params: { id: () => fixtures.listener, deliveryId: () => fixtures.delivery },
  },
  'POST /api/webhooks/:id/test': {
    body: { base: () => ({ eventName: 'project_created' }), fields: { eventName: 'string' }, stringFields: ['eventName'] },
    query: { kind: 'ignored' },
    params: { id: () => fixtures.listener },
  },
  'POST /api/webhooks/:id/deliveries/:deliveryId/resend': {
    query: { kind: 'ignored' },
    params: { id: () => fixtures.listener, deliveryId: () => fixtures.delivery },
  },
  'POST /api/webhooks/:id/resend-failed': {
    body: { base: () => ({ since: '2020-01-01T00:00:00Z' }), fields: { since: 'string' }, stringFields: ['since'] },
    query: { kind: 'ignored' },
    params: { id: () => fixtures.listener },
  },
  'GET /api/event-types': { query: { kind: 'strict', bad: [] } },
  'POST /api/event-types': {
    body: {
      base: () => ({ name: `fuzz_type_${++serial}`, description: 'made by the fuzzer' }),
      fields: { name: 'string', description: 'string', schema: 'object', tenantIdPointer: 'string', projectIdPointer: 'string' },
      stringFields: ['name', 'description'],
      deepBodies: [
        (deep) => `{"name":"fuzz_deep_${++serial}","schema":{"type":"object","default":${deep}}}`,
        (deep) => `{"name":"fuzz_deep_${++serial}","schema":{"type":"object","x-note":${deep}}}`,
        (deep) => `{"name":"fuzz_deep_${++serial}","schema":{"type":"object","properties":{"a":${deep}}}}`,
      ],
    },
    query: { kind: 'ignored' },
  },
  'POST /api/events': {
    body: {
      base: () => ({ eventName: 'project_created', payload: { tenantId: 't1', projectId: `p${++serial}` } }),
      fields: { eventName: 'string', eventTimestamp: 'timestamp', payload: 'object', events: 'event-list' },
      stringFields: ['eventName', 'payload.projectId'],
      // A type without a schema takes any payload, so nothing but the depth can refuse these.
      deepBodies: [(deep) => `{"eventName":"${FREE_FORM_TYPE}","payload":{"tenantId":"t1","projectId":"p1","x":${deep}}}`],
    },
    query: { kind: 'ignored' },
  },
  'POST /api/tokens': {
    body: {
      base: () => ({ role: 'publisher', tenantId: 't1', name: 'fuzzed token' }),
      fields: { role: 'enum', tenantId: 'string', projectId: 'string', name: 'string', expiresAt: 'string' },
      stringFields: ['tenantId', 'name'],
    },
    query: { kind: 'ignored' },
  },
  'GET /api/tokens': { query: { kind: 'strict', bad: [] } },
  'GET /api/me': { query: { kind: 'strict', bad: [] } },
  'DELETE /api/tokens/:id': { query: { kind: 'ignored' }, params: { id: () => fixtures.token } },
};

// ---------------------------------------------------------------------------------------------
// Request generation

interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** A raw JSON object text with `field` set to the raw value text. */
function withRawField(base: Record<string, unknown>, field: string, raw: string): string {
  const marker = `__fuzz_marker_${field}__`;
  return JSON.stringify({ ...base, [field]: marker }).replace(JSON.stringify(marker), raw);
}

function getPath(object: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<any>((value, key) => value[key], object);
}

function setPath(object: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop()!;
  (keys.reduce<any>((parent, key) => parent[key], object) as Record<string, unknown>)[last] = value;
}

/** A query string that is only noise: the route ignores queries, so it never decides anything. */
function noiseQuery(random: Random): string {
  const pairs = Array.from({ length: 1 + random.int(4) }, () => {
    const key = encodeURIComponent(random.text(random.int(10), WILD_CHARS));
    const value = random.chance(0.2) ? '' : `=${encodeURIComponent(random.text(random.int(20), WILD_CHARS))}`;
    return key + value;
  });
  return pairs.join(random.pick(['&', '&&']));
}

/** A query string with at least one parameter the route does not know. */
function unknownQuery(random: Random): string {
  const key = `zz${encodeURIComponent(random.text(1 + random.int(10), WILD_CHARS))}`;
  const extra = random.chance(0.5) ? `&${noiseQuery(random)}` : '';
  return `${key}=${encodeURIComponent(random.text(random.int(20), WILD_CHARS))}${extra}`;
}

/** A path parameter value that names nothing. */
function randomParam(random: Random): string {
  const choices: Array<() => string> = [
    () => encodeURIComponent(random.text(1 + random.int(40), WILD_CHARS)),
    () => `wh_${random.text(24)}`,
    () => `tok_${random.text(24)}`,
    () => random.text(129 + random.int(5000)),
    () => random.pick(['%zz', '%ff', '%00', '%e2%82', '%c0%80', '%2e%2e', '%2F', 'null', 'undefined', '0', '-1', '__proto__', 'constructor']),
    () => encodeURIComponent('\u{1f4a5}'.repeat(1 + random.int(30))),
  ];
  for (;;) {
    const value = random.pick(choices)();
    // A bare "." or ".." is folded into the path by URL normalisation, reaching another route.
    if (!/^\.*$/.test(value)) return value;
  }
}

const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80]];
const WRONG_CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=zz', 'application/octet-stream', 'text/json', 'application/jsonx'];
const DEEP_ARRAY = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
const DEEP_OBJECT = '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH);
const HUGE_STRING = JSON.stringify('x'.repeat(ONE_MB));

function generate(route: string, spec: RouteSpec, random: Random, heavy: boolean): FuzzRequest {
  const [method, template] = route.split(' ');
  const paramNames = Object.keys(spec.params ?? {});
  const kinds: string[] = ['bad-token'];
  if (paramNames.length > 0) kinds.push('bad-path', 'bad-path', 'bad-path');
  else kinds.push('extra-segment');
  if (spec.query.kind === 'strict') kinds.push('bad-query', 'bad-query', 'unknown-query', 'unknown-query');
  if (spec.body) {
    kinds.push('random-json', 'random-json', 'wrong-type', 'wrong-type', 'wrong-type', 'bad-utf8', 'truncated', 'odd-number', 'proto', 'content-type');
  } else if (method === 'DELETE') {
    kinds.push('truncated', 'bad-utf8', 'proto', 'content-type');
  }
  // A GET has no body to make heavy (fetch refuses one), so its heavy draws are ordinary ones.
  const heavyApplies = spec.body !== undefined || method === 'DELETE';
  const kind = heavy && heavyApplies ? random.pick(['huge', 'deep']) : random.pick(kinds);

  const params: Record<string, string> = Object.fromEntries(paramNames.map((name) => [name, spec.params![name]()]));
  if (kind === 'bad-path') {
    for (const name of paramNames) if (random.chance(0.7) || paramNames.length === 1) params[name] = randomParam(random);
    if (paramNames.every((name) => params[name] === spec.params![name]())) params[paramNames[0]] = randomParam(random);
  }
  let path = template.replace(/:(\w+)/g, (_match, name: string) => params[name]);
  if (kind === 'extra-segment') path += `/${randomParam(random)}`;

  let query = '';
  if (kind === 'bad-query' && spec.query.kind === 'strict') {
    const bad = spec.query.bad.length > 0 ? random.pick(spec.query.bad)(random) : unknownQuery(random);
    query = random.chance(0.5) ? bad : `${bad}&${random.chance(0.5) ? noiseQuery(random) : ''}`;
  } else if (kind === 'unknown-query') {
    query = unknownQuery(random);
  } else if (spec.query.kind === 'ignored' && random.chance(0.3)) {
    query = noiseQuery(random);
  }
  if (query) path += `?${query}`;

  const headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  if (kind === 'bad-token') {
    const header = random.pick([
      null,
      'Bearer',
      `Bearer ${TEST_ADMIN_TOKEN}x`,
      `Bearer hrld_${random.text(43)}`,
      `Basic ${Buffer.from(`admin:${TEST_ADMIN_TOKEN}`).toString('base64')}`,
      TEST_ADMIN_TOKEN,
      `Bearer ${TEST_ADMIN_TOKEN} ${TEST_ADMIN_TOKEN}`,
    ]);
    if (header === null) delete headers.authorization;
    else headers.authorization = header;
  }

  const request: FuzzRequest = { kind, method, path, headers };
  const body = spec.body;
  const setBody = (text: string | Buffer, contentType = 'application/json') => {
    request.body = text;
    request.headers['content-type'] = contentType;
  };
  const validBody = () => (body ? JSON.stringify(body.base()) : '{}');

  switch (kind) {
    case 'bad-token':
    case 'bad-path':
    case 'extra-segment':
    case 'bad-query':
    case 'unknown-query':
      // The one fault is elsewhere; a body route still gets a valid body.
      if (body) setBody(validBody());
      else if (method === 'DELETE' && random.chance(0.3)) setBody(JSON.stringify(randomJson(random)));
      break;
    case 'random-json': {
      const value = randomJson(random);
      // An object body always carries a field no route knows, so no draw is valid by chance.
      const object = { ...(random.chance(0.5) ? body!.base() : {}), [`zz${random.text(4)}`]: value };
      setBody(JSON.stringify(random.chance(0.5) && (typeof value !== 'object' || value === null || Array.isArray(value)) ? value : object));
      break;
    }
    case 'wrong-type': {
      const field = random.pick(Object.keys(body!.fields));
      setBody(withRawField(body!.base(), field, random.pick(WRONG_VALUES[body!.fields[field]])));
      break;
    }
    case 'odd-number': {
      const candidates = Object.entries(body!.fields).filter(([, fieldKind]) => fieldKind !== 'timestamp');
      const [field] = random.pick(candidates);
      setBody(withRawField(body!.base(), field, random.pick(ODD_NUMBERS)));
      break;
    }
    case 'bad-utf8': {
      const base = body ? body.base() : { zz: 'x' };
      const field = body ? random.pick(body.stringFields) : 'zz';
      setPath(base, field, `${getPath(base, field)}\u0001`);
      const text = JSON.stringify(base);
      const [head, tail] = text.split('\\u0001');
      setBody(Buffer.concat([Buffer.from(head), Buffer.from(random.pick(INVALID_UTF8)), Buffer.from(tail)]));
      break;
    }
    case 'truncated': {
      const text = body && random.chance(0.7) ? validBody() : JSON.stringify({ zz: randomJson(random), a: [1, 2, { b: 'c' }] });
      setBody(text.slice(0, random.int(text.length)));
      break;
    }
    case 'proto': {
      const base = body ? body.base() : {};
      const poison = random.pick([
        '"__proto__":{"polluted":true}',
        '"constructor":{"prototype":{"polluted":true}}',
        '"\\u005f_proto__":{"polluted":true}',
        '"__proto__":{"__proto__":{"polluted":true}}',
      ]);
      const inner = JSON.stringify(base).slice(1, -1);
      let text = `{${poison}${inner ? `,${inner}` : ''}}`;
      if (route === 'POST /api/events' && random.chance(0.5)) {
        text = JSON.stringify({ eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } }).replace('{"tenantId"', `{${poison},"tenantId"`);
      }
      setBody(text);
      break;
    }
    case 'content-type':
      setBody(validBody(), random.pick(WRONG_CONTENT_TYPES));
      break;
    case 'huge': {
      if (body) {
        const field = random.pick(body.stringFields);
        setBody(withRawField(body.base(), field, HUGE_STRING));
      } else {
        // Past the body limit whatever the route: refused before anything reads it.
        setBody(`{"zz":${HUGE_STRING}}`);
      }
      break;
    }
    case 'deep': {
      const deep = random.pick([DEEP_ARRAY, DEEP_OBJECT, DEEP_ARRAY.slice(0, DEPTH)]);
      if (body?.deepBodies && random.chance(0.6)) {
        setBody(random.pick(body.deepBodies)(deep));
      } else if (body && random.chance(0.6)) {
        setBody(withRawField(body.base(), random.pick(Object.keys(body.fields)), deep));
      } else {
        setBody(deep);
      }
      break;
    }
  }
  return request;
}

// ---------------------------------------------------------------------------------------------
// Herald, fixtures and state

let herald: TestHerald;
let receiver: Receiver;
let ROUTES: string[] = [];

before(async () => {
  receiver = await startReceiver();
  herald = await startTestHerald({ rateLimitPerMinute: 0 });
  ROUTES = apiRoutes();
  const freeForm = await herald.post('/api/event-types', { name: FREE_FORM_TYPE });
  assert.equal(freeForm.status, 201, JSON.stringify(freeForm.body));
  const types = (await herald.get('/api/event-types')).body.data as Array<{ name: string }>;
  const listener = await herald.post('/api/webhooks', {
    url: `${receiver.url}/all`,
    events: types.map((type) => type.name),
    secret: 'fuzz-listener-secret',
  });
  assert.equal(listener.status, 201, JSON.stringify(listener.body));
  fixtures.listener = listener.body.id;
  const hook = await herald.post('/api/webhooks', {
    url: `${receiver.url}/company`,
    events: ['project_created'],
    secret: 'fuzz-company-secret',
    tenantId: 't1',
    active: false,
  });
  assert.equal(hook.status, 201, JSON.stringify(hook.body));
  fixtures.hook = hook.body.id;
  const token = await herald.post('/api/tokens', { role: 'company', tenantId: 't1' });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  fixtures.token = token.body.id;
  const published = await herald.post('/api/events', { eventName: 'project_created', payload: { tenantId: 't1', projectId: 'p1' } });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  const deliveries = await waitUntil(async () => {
    const list = (await herald.get(`/api/webhooks/${fixtures.listener}/deliveries`)).body.data as Array<{ id: string; status: string }>;
    return list.length === 1 && list[0].status === 'success' ? list : null;
  });
  fixtures.delivery = deliveries[0].id;
});

after(async () => {
  await herald?.stop({ removeData: true });
  await receiver?.close();
});

function apiRoutes(): string[] {
  const tree = herald.herald.api!.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1].length / 4;
    prefixes.length = depth;
    const path = (prefixes[depth - 1] ?? '') + match[2];
    prefixes[depth] = path;
    for (const method of match[3].split(',').map((m) => m.trim())) {
      if (path.startsWith('/api/') && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes.sort();
}

async function stored() {
  const read = async (path: string) => {
    const answer = await herald.get(path);
    assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
    return answer.body.data;
  };
  return {
    webhooks: await read('/api/webhooks?limit=1000'),
    eventTypes: await read('/api/event-types'),
    tokens: await read('/api/tokens'),
    listenerDeliveries: (await read(`/api/webhooks/${fixtures.listener}/deliveries`)).length,
  };
}

function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : Buffer.from(request.body).toString('latin1');
  const short = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}... (${text.length} chars)` : text);
  return `[${request.kind}] ${request.method} ${short(request.path)} ${JSON.stringify(request.headers)} ${short(body)}`;
}

async function send(request: FuzzRequest): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(`${herald.url}${request.path}`, {
    method: request.method,
    headers: request.headers,
    body: typeof request.body === 'string' || request.body === undefined ? request.body : new Uint8Array(request.body),
    redirect: 'manual',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

function checkAnswer(request: FuzzRequest, answer: { status: number; contentType: string | null; text: string }, seed: number): void {
  const where = `seed ${seed}: ${describeRequest(request)}\n-> ${answer.status} ${answer.text.slice(0, 300)}`;
  assert.ok(answer.status >= 400 && answer.status < 500, `not a 4xx: ${where}`);
  assert.match(answer.contentType ?? '', /^application\/json/, `not JSON: ${where}`);
  const body = JSON.parse(answer.text);
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), `not an object: ${where}`);
  assert.ok(CATALOGUED.has(body.error), `error code not in the catalogue: ${where}`);
  assert.equal(ERROR_CATALOGUE[body.error as keyof typeof ERROR_CATALOGUE].status, answer.status, `status does not match the code: ${where}`);
  assert.equal(typeof body.message, 'string', where);
  assert.ok(body.field === undefined || typeof body.field === 'string', where);
  assert.deepEqual(Object.keys(body).filter((key) => !['error', 'message', 'field'].includes(key)), [], `extra keys: ${where}`);
}

// ---------------------------------------------------------------------------------------------
// The tests

test('every /api route has a fuzz spec, and every spec a route', () => {
  assert.deepEqual(ROUTES.filter((route) => !(route in SPECS)), [], 'routes without a fuzz spec');
  assert.deepEqual(Object.keys(SPECS).filter((route) => !ROUTES.includes(route)), [], 'fuzz specs for routes that do not exist');
});

// DELETE last: one that wrongly succeeds removes a fixture the other routes aim at.
const ORDER = Object.keys(SPECS).sort((a, b) => Number(a.startsWith('DELETE ')) - Number(b.startsWith('DELETE ')) || a.localeCompare(b));

for (const route of ORDER) {
  test(`${route}: ${REQUESTS_PER_ROUTE} generated requests are all refused, and nothing is stored`, async (t) => {
    assert.ok(ROUTES.includes(route), `${route} is not in the route table`);
    const seed = (SEED ^ hash(route)) >>> 0;
    t.diagnostic(`HERALD_FUZZ_SEED=${SEED} (stream ${seed} for ${route})`);
    const random = randomSource(seed);
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    const before = await stored();
    const kinds = new Map<string, number>();
    for (let i = 0; i < REQUESTS_PER_ROUTE; i++) {
      const request = generate(route, SPECS[route], random, i < HEAVY_PER_ROUTE);
      kinds.set(request.kind, (kinds.get(request.kind) ?? 0) + 1);
      let answer;
      try {
        answer = await send(request);
      } catch (error) {
        assert.fail(`no answer (${(error as Error).message}): seed ${SEED}: ${describeRequest(request)}`);
      }
      checkAnswer(request, answer, SEED);
    }
    t.diagnostic(`kinds: ${[...kinds].map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys, 'Object.prototype changed');
    // Anything an accepted publish would have caused must have had the chance to show.
    await receiver.waitForRequests(1);
    assert.deepEqual(await stored(), before, `seed ${SEED}: a refused request changed what is stored`);
    assert.equal(receiver.requests.length, 1, 'the receiver got a request for a refused event');
  });
}
