import { X509Certificate } from 'node:crypto';
import { invalidField, HeraldError } from '../core/errors.js';
import type { EventCatalog } from '../core/event-catalog.js';
import type { Webhook } from '../core/types.js';
import { assertHostAllowed, type NetworkAllowList } from '../http/index.js';
import type { WebhookCreateBody, WebhookPatchBody } from './schemas.js';

/** The settings of a webhook as the API accepts them, after the older CMS shape is mapped;
 * `secret` is undefined when the caller left it out. */
export type WebhookSettings = Omit<Webhook, 'id' | 'createdAt' | 'updatedAt'> & { secret: string | undefined };

export const WEBHOOK_DEFAULTS = {
  method: 'POST',
  contentType: 'application/json',
  maxAttempts: 6,
  active: true,
} as const;

export interface InputRules {
  catalog: EventCatalog;
  allowPrivateNetworks: boolean;
  /** Internal ranges allowed even with private networks off (HERALD_ALLOWED_NETWORKS). */
  allowedNetworks?: NetworkAllowList;
}

const PROXY_PASSWORD_MASK = '****';

/** Checks a create request and fills in the defaults. Throws a HeraldError naming the field. */
export function settingsFromCreate(body: WebhookCreateBody, rules: InputRules): WebhookSettings {
  const legacy = mapLegacyShape(body);
  // A document in the older shape is told about the older names.
  if (legacy.url === undefined) throw invalidField(body.eventName === undefined ? 'url' : 'target', 'is required');
  if (legacy.events === undefined) throw invalidField(body.target === undefined ? 'events' : 'eventName', 'is required');
  const settings: WebhookSettings = {
    name: legacy.name ?? null,
    url: legacy.url,
    events: legacy.events,
    secret: legacy.secret,
    tenantId: legacy.tenantId ?? null,
    projectId: legacy.projectId ?? null,
    method: legacy.method ?? WEBHOOK_DEFAULTS.method,
    contentType: legacy.contentType ?? WEBHOOK_DEFAULTS.contentType,
    maxAttempts: legacy.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts,
    active: legacy.active ?? WEBHOOK_DEFAULTS.active,
    base64CA: legacy.base64CA ?? null,
    proxyUrl: legacy.proxyUrl ?? null,
  };
  try {
    return checkSettings(settings, rules);
  } catch (error) {
    throw namedAsSent(error, body);
  }
}

/** An error names the field the caller sent: `target` and `eventName` in the older shape. */
function namedAsSent(error: unknown, body: WebhookCreateBody): unknown {
  if (!(error instanceof HeraldError)) return error;
  if (error.field === 'url' && body.target !== undefined) return new HeraldError(error.code, error.message, 'target');
  if (error.field === 'events[0]' && body.eventName !== undefined) {
    return new HeraldError(error.code, error.message, 'eventName');
  }
  return error;
}

/**
 * Applies a patch onto the current settings and checks the result as a whole (a project id
 * needs a tenant id whichever of the two the patch changes). The secret stays unless given.
 */
export function settingsFromPatch(
  current: Omit<WebhookSettings, 'secret'>,
  body: WebhookPatchBody,
  rules: InputRules,
): WebhookSettings {
  conflicting(body.proxy, body['proxy.url'], 'proxy.url', 'give either proxy or proxy.url, not both');
  const proxyInput = body['proxy.url'] ?? (body.proxy === undefined ? undefined : (body.proxy?.url ?? null));
  const merged: WebhookSettings = {
    ...current,
    secret: body.secret,
    ...definedOnly({
      name: body.name,
      url: body.url,
      events: body.events,
      tenantId: body.tenantId,
      projectId: body.projectId,
      method: body.method,
      contentType: body.contentType,
      maxAttempts: body.maxAttempts,
      active: body.active,
      base64CA: body.base64CA,
    }),
  };
  if (proxyInput !== undefined) merged.proxyUrl = keepMaskedPassword(proxyInput, current.proxyUrl);
  return checkSettings(merged, rules);
}

/**
 * The secret part of a patch for the store: a new secret, and how long the old one keeps signing
 * beside it so receivers can move over without refusing requests in between.
 */
export function secretChange(body: WebhookPatchBody): { secret?: string; keepPreviousSecretForMs?: number } {
  if (body.keepPreviousSecretFor === undefined) return body.secret === undefined ? {} : { secret: body.secret };
  if (body.secret === undefined) throw invalidField('keepPreviousSecretFor', 'needs a new secret in the same request');
  return { secret: body.secret, keepPreviousSecretForMs: body.keepPreviousSecretFor * 1000 };
}

type Mapped = Partial<Omit<WebhookSettings, 'proxyUrl'>> & { proxyUrl?: string | null };

/** The older CMS document: one `eventName`, `target` for the URL, `proxy.url` as a flat key,
 * and empty ids meaning instance-wide. */
function mapLegacyShape(body: WebhookCreateBody): Mapped {
  conflicting(body.url, body.target, 'target', 'give either url or target, not both');
  conflicting(body.events, body.eventName, 'eventName', 'give either events or eventName, not both');
  conflicting(body.proxy, body['proxy.url'], 'proxy.url', 'give either proxy or proxy.url, not both');
  const isLegacy = body.target !== undefined || body.eventName !== undefined;
  const emptyAsNull = (id: string | null | undefined, field: string) => {
    if (id !== '') return id;
    if (isLegacy) return null;
    throw invalidField(field, 'must not be empty; leave it out (or send null) for an instance-wide webhook');
  };
  return {
    name: body.name,
    url: body.url ?? body.target,
    events: body.events ?? (body.eventName === undefined ? undefined : [body.eventName]),
    secret: body.secret,
    tenantId: emptyAsNull(body.tenantId, 'tenantId'),
    projectId: emptyAsNull(body.projectId, 'projectId'),
    method: body.method,
    contentType: body.contentType,
    maxAttempts: body.maxAttempts,
    active: body.active,
    base64CA: body.base64CA === '' && isLegacy ? null : body.base64CA,
    proxyUrl:
      body['proxy.url'] === '' ? null : (body['proxy.url'] ?? (body.proxy === undefined ? undefined : (body.proxy?.url ?? null))),
  };
}

function conflicting(modern: unknown, legacy: unknown, field: string, message: string): void {
  if (modern !== undefined && legacy !== undefined) throw invalidField(field, message);
}

function checkSettings(settings: WebhookSettings, rules: InputRules): WebhookSettings {
  checkTargetUrl(settings.url, rules);
  const events = canonicalEvents(settings.events, rules.catalog);
  if (settings.projectId !== null && settings.tenantId === null) {
    throw invalidField('projectId', 'a project webhook needs the tenantId of its company');
  }
  if (!/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(settings.contentType)) {
    throw invalidField('contentType', 'must be a media type such as application/json');
  }
  if (settings.base64CA !== null) checkCertificateAuthority(settings.base64CA);
  if (settings.proxyUrl !== null) checkProxyUrl(settings.proxyUrl, rules);
  return { ...settings, events };
}

function checkTargetUrl(text: string, rules: InputRules): void {
  const url = parseHttpUrl(text, 'url');
  if (url.username || url.password) {
    throw invalidField('url', 'must not carry credentials; use the signature headers to authenticate');
  }
  assertPublicHost(url, 'url', rules);
}

function checkProxyUrl(text: string, rules: InputRules): void {
  const url = parseHttpUrl(text, 'proxy.url');
  if (url.pathname !== '/' || url.search || url.hash) {
    throw invalidField('proxy.url', 'must be a proxy origin such as http://proxy.internal:3128');
  }
  assertPublicHost(url, 'proxy.url', rules);
}

/** Refuses IP literals on internal networks at once; names are checked when they resolve. */
function assertPublicHost(url: URL, field: string, rules: InputRules): void {
  if (rules.allowPrivateNetworks) return;
  try {
    assertHostAllowed(url, rules.allowedNetworks);
  } catch (error) {
    const hint = 'list its network in HERALD_ALLOWED_NETWORKS (or set HERALD_ALLOW_PRIVATE_NETWORKS=1) to allow it';
    throw invalidField(field, `${(error as Error).message}; ${hint}`);
  }
}

function parseHttpUrl(text: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidField(field, 'must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidField(field, 'must use http or https');
  }
  if (!url.hostname) throw invalidField(field, 'must name a host');
  return url;
}

function canonicalEvents(events: string[], catalog: EventCatalog): string[] {
  const canonical = events.map((name, index) => {
    const resolved = catalog.resolve(name);
    if (resolved === null) {
      throw new HeraldError('unknown_event_type', `"${name}" is not in the event catalog`, `events[${index}]`);
    }
    return resolved;
  });
  return [...new Set(canonical)].sort();
}

/** The CA must be base64 of one or more PEM certificates (a raw PEM is accepted as well). */
function checkCertificateAuthority(base64CA: string): void {
  const pem = base64CA.trimStart().startsWith('-----BEGIN')
    ? base64CA
    : Buffer.from(base64CA, 'base64').toString('utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) {
    throw invalidField('base64CA', 'must be a base64-encoded PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw invalidField('base64CA', 'contains a certificate that cannot be parsed');
    }
  }
}

/** Stores a raw PEM as base64, so the stored form is always base64. */
export function normalisedCA(base64CA: string | null): string | null {
  if (base64CA === null) return null;
  return base64CA.trimStart().startsWith('-----BEGIN') ? Buffer.from(base64CA, 'utf8').toString('base64') : base64CA;
}

/** A proxy password is a credential: responses show it masked. */
export function maskProxyUrl(proxyUrl: string): string {
  const url = new URL(proxyUrl);
  if (!url.password) return proxyUrl;
  url.password = PROXY_PASSWORD_MASK;
  return url.toString();
}

/** Sending back the masked URL unchanged keeps the stored password. */
function keepMaskedPassword(input: string | null, current: string | null): string | null {
  if (input === null || current === null) return input;
  try {
    if (maskProxyUrl(current) === new URL(input).toString()) return current;
  } catch {
    // Not a URL: checkProxyUrl reports it.
  }
  return input;
}

function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
