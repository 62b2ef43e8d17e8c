/**
 * The one catalogue of errors Herald answers with. Each code is declared once with its HTTP
 * status; routes throw `HeraldError`s and a single handler turns them into
 * `{ error, message, field? }`. Anything that is not a HeraldError becomes a bare 500.
 */
export const ERROR_CATALOGUE = {
  unauthorized: { status: 401, message: 'A valid bearer token is required' },
  validation_failed: { status: 400, message: 'The request is not valid' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  unknown_event_type: { status: 400, message: 'The event type is not in the catalog' },
  forbidden: { status: 403, message: 'This token may not do that' },
  not_found: { status: 404, message: 'Not found' },
  request_timeout: { status: 408, message: 'The request did not arrive in time' },
  conflict: { status: 409, message: 'The resource already exists' },
  idempotency_key_reused: {
    status: 409,
    message: 'This Idempotency-Key was already used with a different request body',
  },
  limit_reached: { status: 409, message: 'A limit of this installation is reached' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json' },
  rate_limited: { status: 429, message: 'Too many requests for this token; retry after the Retry-After delay' },
  headers_too_large: { status: 431, message: 'The request headers are too large' },
  internal: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The request field at fault, as a dotted path (`proxy.url`, `events[2].payload.tenantId`). */
  readonly field?: string;

  constructor(code: ErrorCode, message?: string, field?: string) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'HeraldError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.field = field;
  }

  toBody(): { error: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, field: this.field };
  }
}

export const invalidField = (field: string, message: string): HeraldError =>
  new HeraldError('validation_failed', message, field);

export const notFound = (what: string): HeraldError => new HeraldError('not_found', `${what} not found`);
