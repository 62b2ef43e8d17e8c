import type { Webhook, WebhookInput } from './api';

/**
 * The add/edit form's values and their mapping to and from the API: which fields a request
 * carries, and on which field (and step) an error the API names belongs.
 */

export const METHODS = ['POST', 'PUT', 'PATCH'] as const;
export const DEFAULT_CONTENT_TYPE = 'application/json';
export const DEFAULT_MAX_ATTEMPTS = 6;
export const MAX_ATTEMPTS_LIMIT = 20;
export const MIN_SECRET_LENGTH = 8;

export interface WebhookFormValues {
  url: string;
  secret: string;
  events: string[];
  name: string;
  method: string;
  contentType: string;
  maxAttempts: number | null;
  active: boolean;
  caPem: string;
  proxyUrl: string;
}

export type FormField = keyof WebhookFormValues;

/** The two steps of the modal and the fields each holds. */
export const STEP_FIELDS: FormField[][] = [
  ['url', 'secret', 'events', 'name', 'method', 'contentType', 'maxAttempts', 'active'],
  ['caPem', 'proxyUrl'],
];

/** The collapsible panel of the second step that holds a field. */
export const PANEL_OF: Partial<Record<FormField, 'ca' | 'proxy'>> = { caPem: 'ca', proxyUrl: 'proxy' };

export function stepOf(field: FormField): number {
  return STEP_FIELDS.findIndex((fields) => fields.includes(field));
}

export function initialValues(webhook?: Webhook): WebhookFormValues {
  return {
    url: webhook?.url ?? '',
    secret: '',
    events: webhook?.events ?? [],
    name: webhook?.name ?? '',
    method: webhook?.method ?? 'POST',
    contentType: webhook?.contentType ?? DEFAULT_CONTENT_TYPE,
    maxAttempts: webhook?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    active: webhook?.active ?? true,
    caPem: webhook?.base64CA ? pemFromBase64(webhook.base64CA) : '',
    proxyUrl: webhook?.proxy?.url ?? '',
  };
}

/** A create request: empty optional fields are left out, so Herald applies its defaults. */
export function createInput(values: WebhookFormValues): WebhookInput {
  const input: WebhookInput = {
    url: values.url.trim(),
    events: values.events,
    method: values.method,
    contentType: values.contentType.trim() || DEFAULT_CONTENT_TYPE,
    maxAttempts: values.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    active: values.active,
  };
  if (values.secret !== '') input.secret = values.secret;
  if (values.name.trim() !== '') input.name = values.name.trim();
  if (values.caPem.trim() !== '') input.base64CA = base64FromPem(values.caPem);
  if (values.proxyUrl.trim() !== '') input.proxy = { url: values.proxyUrl.trim() };
  return input;
}

/**
 * A patch with only what changed. The secret goes only when one was typed; the proxy URL as
 * Herald showed it (password masked) keeps the stored password, so sending it back is harmless.
 */
export function patchInput(webhook: Webhook, values: WebhookFormValues): WebhookInput {
  const before = initialValues(webhook);
  const after = createInput(values);
  const patch: WebhookInput = {};
  if (after.url !== webhook.url) patch.url = after.url;
  if (!sameSet(values.events, webhook.events)) patch.events = values.events;
  if ((after.name ?? null) !== webhook.name) patch.name = after.name ?? null;
  if (after.method !== webhook.method) patch.method = after.method;
  if (after.contentType !== webhook.contentType) patch.contentType = after.contentType;
  if (after.maxAttempts !== webhook.maxAttempts) patch.maxAttempts = after.maxAttempts;
  if (after.active !== webhook.active) patch.active = after.active;
  if (values.secret !== '') patch.secret = values.secret;
  if (values.caPem.trim() !== before.caPem.trim()) patch.base64CA = after.base64CA ?? null;
  if (values.proxyUrl.trim() !== before.proxyUrl.trim()) patch.proxy = after.proxy ?? null;
  return patch;
}

/**
 * The form field an API error names: `events[0]` is the events field, `proxy.url` the proxy
 * URL, `base64CA` the CA certificate. Null for fields the form does not show (the scope).
 */
export function formFieldOf(apiField: string | undefined): FormField | null {
  if (!apiField) return null;
  const head = apiField.replace(/\[\d+\].*$/, '').split('.')[0];
  switch (head) {
    case 'url':
    case 'target':
      return 'url';
    case 'events':
    case 'eventName':
      return 'events';
    case 'secret':
    case 'keepPreviousSecretFor':
      return 'secret';
    case 'name':
    case 'method':
    case 'contentType':
    case 'maxAttempts':
    case 'active':
      return head;
    case 'base64CA':
      return 'caPem';
    case 'proxy':
      return 'proxyUrl';
    default:
      return null;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export function looksLikePemCertificate(text: string): boolean {
  return PEM_CERTIFICATE.test(text);
}

export function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text.trim());
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** base64 of the PEM's UTF-8 bytes (certificates are ASCII, comments around them may not be). */
export function base64FromPem(pem: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(pem.trim() + '\n')) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function pemFromBase64(base64: string): string {
  try {
    const binary = atob(base64);
    return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0))).trim();
  } catch {
    return base64;
  }
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}
