/**
 * What can go wrong in a command that talks to Herald, and how it is told to the person at the
 * terminal: one line saying what happened, one line saying what to do about it, and an exit code
 * scripts can tell apart (1: Herald refused or could not be reached, 2: the command was misused).
 */

export const EXIT_API_ERROR = 1;
export const EXIT_USAGE = 2;

/** The command line itself is wrong: a missing option, an unreadable file, bad JSON. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Herald answered with an error: its `{ error, message, field }` and the HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** No answer came from Herald: nothing listens there, the name does not resolve, it timed out. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
  ) {
    super(`cannot reach Herald at ${baseUrl}: ${reason}`);
  }
}

export interface FailureReport {
  message: string;
  hint?: string;
  exitCode: number;
}

/**
 * The command-line option that sets each request field, so a validation error can point at the
 * flag to fix rather than at a JSON field the user never typed.
 */
const FLAG_OF_FIELD: Record<string, string> = {
  url: '--url',
  events: '--events',
  secret: '--secret',
  name: '--name',
  tenantId: '--tenant',
  projectId: '--project',
  method: '--method',
  contentType: '--content-type',
  maxAttempts: '--max-attempts',
  base64CA: '--ca-file',
  proxy: '--proxy',
  'proxy.url': '--proxy',
  payload: '--payload',
  since: '--failed-since',
  'Idempotency-Key': '--idempotency-key',
  limit: '--limit',
  statusCode: '--status-code',
};

/** Turns any error a command throws into what is printed and the exit code. */
export function reportFailure(error: unknown): FailureReport {
  if (error instanceof UsageError) return { message: error.message, hint: error.hint, exitCode: EXIT_USAGE };
  if (error instanceof UnreachableError) {
    return {
      message: error.message,
      hint: `is Herald running at ${error.baseUrl}? start it with \`npm start\`, or point --url (or HERALD_URL) at it`,
      exitCode: EXIT_API_ERROR,
    };
  }
  if (error instanceof ApiError) {
    const where = error.field ? `${error.field}: ` : '';
    return { message: `${where}${error.message} (${error.status} ${error.code})`, hint: hintFor(error), exitCode: EXIT_API_ERROR };
  }
  // Anything else is a defect or an unexpected system error: say what it was, without a stack.
  return { message: error instanceof Error ? error.message : String(error), exitCode: EXIT_API_ERROR };
}

function hintFor(error: ApiError): string | undefined {
  switch (error.code) {
    case 'unauthorized':
      return 'check the token (--token or HERALD_TOKEN): it may be mistyped, revoked or expired; `herald token create` makes a new one';
    case 'forbidden':
      return "this token's role may not do this; use an admin token, or one whose company or project this belongs to";
    case 'not_found':
      return "check the id: it does not exist, or it is outside your token's reach (`herald webhooks list` shows what you can see)";
    case 'unknown_event_type':
      return 'the event name is not in the catalog; GET /api/event-types lists it';
    case 'idempotency_key_reused':
      return 'this key was used with another body in the last 24 hours; pick a new --idempotency-key';
    case 'rate_limited':
      return error.retryAfterSeconds === undefined
        ? 'too many requests for this token; wait a little and try again'
        : `too many requests for this token; try again in ${error.retryAfterSeconds} s`;
    case 'limit_reached':
      return 'the scope holds as many webhooks as HERALD_MAX_WEBHOOKS_PER_SCOPE allows; delete some first';
    case 'payload_too_large':
      return 'send less: an event is at most 256 KiB';
    default:
      break;
  }
  if (error.status >= 500) return "Herald failed to answer; its log says why";
  const flag = error.field === undefined ? undefined : flagOf(error.field);
  return flag ? `check ${flag}` : undefined;
}

function flagOf(field: string): string | undefined {
  return FLAG_OF_FIELD[field] ?? FLAG_OF_FIELD[field.split(/[.[]/)[0]];
}

/** Prints a failure on stderr and sets the exit code; the process then ends on its own. */
export function printFailure(error: unknown): void {
  const report = reportFailure(error);
  process.stderr.write(`herald: ${report.message}\n`);
  if (report.hint) process.stderr.write(`  hint: ${report.hint}\n`);
  process.exitCode = report.exitCode;
}
