import fs from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Static } from '@sinclair/typebox';
import { Command, Option } from 'commander';
import type { QueuedDeliveryReply, WebhookCreatedView, WebhookList, WebhookView } from '../api/schemas.js';
import { pathSegment, withApi } from './api-client.js';
import { commaList, connectionOf, integerIn, withConnectionOptions, type ConnectionFlags } from './command-kit.js';
import { UsageError } from './failures.js';
import { formatTime, printJson, printLine, printNote, printTable, type Column } from './output.js';

/** `herald webhooks list|show|create|delete|test`: the /api/webhooks routes from the command line. */
export function webhooksCommand(): Command {
  return new Command('webhooks')
    .description('list, create, delete and test webhooks of a running Herald')
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(createCommand())
    .addCommand(deleteCommand())
    .addCommand(testCommand());
}

interface ListFlags extends ConnectionFlags {
  json?: boolean;
  tenant?: string;
  project?: string;
  scope?: string;
  event?: string;
  limit?: number;
  after?: string;
}

function listCommand(): Command {
  return withConnectionOptions(new Command('list'))
    .description("list the webhooks in your token's reach")
    .option('--tenant <tenantId>', "only this company's webhooks (and its projects')")
    .option('--project <projectId>', "only this project's webhooks (with --tenant)")
    .addOption(new Option('--scope <scope>', 'only webhooks of this scope').choices(['instance', 'company', 'project']))
    .option('--event <eventName>', 'only webhooks subscribed to this event')
    .option('--limit <n>', 'webhooks per page (Herald answers 100 by default)', integerIn(1, 1000))
    .option('--after <cursor>', 'the next page: the cursor a previous list printed')
    .action(async (flags: ListFlags) => {
      const query = {
        tenantId: flags.tenant,
        projectId: flags.project,
        scope: flags.scope,
        event: flags.event,
        limit: flags.limit,
        after: flags.after,
      };
      const { body } = await withApi(connectionOf(flags), (api) => api.get<Static<typeof WebhookList>>('/webhooks', query));
      if (flags.json) return printJson(body);
      if (body.data.length === 0) return printLine('no webhooks');
      printTable(WEBHOOK_COLUMNS, body.data);
      if (body.nextCursor) printNote(`more webhooks follow: add --after ${body.nextCursor}`);
    });
}

const WEBHOOK_COLUMNS: Column<WebhookView>[] = [
  { header: 'ID', value: (webhook) => webhook.id },
  { header: 'URL', value: (webhook) => webhook.url, maxWidth: 48 },
  { header: 'EVENTS', value: (webhook) => webhook.events.join(','), maxWidth: 40 },
  { header: 'SCOPE', value: describeScope },
  { header: 'ACTIVE', value: (webhook) => (webhook.active ? 'yes' : webhook.disabledReason ? 'no (disabled by Herald)' : 'no') },
  { header: 'LAST EVENT', value: describeLastEvent },
];

function describeScope(webhook: Pick<WebhookView, 'scope' | 'tenantId' | 'projectId'>): string {
  if (webhook.scope === 'project') return `project ${webhook.tenantId}/${webhook.projectId}`;
  if (webhook.scope === 'company') return `company ${webhook.tenantId}`;
  return 'instance';
}

function describeLastEvent(webhook: WebhookView): string {
  const last = webhook.lastEvent;
  if (!last) return '-';
  return `${last.status} ${last.statusCode ?? '-'} ${last.eventName} ${formatTime(last.dispatchedAt)}`;
}

function showCommand(): Command {
  return withConnectionOptions(new Command('show'))
    .description("one webhook's settings")
    .argument('<id>', 'the webhook id (wh_...)')
    .action(async (id: string, flags: ConnectionFlags & { json?: boolean }) => {
      const { body } = await withApi(connectionOf(flags), (api) => api.get<WebhookView>(`/webhooks/${pathSegment(id)}`));
      if (flags.json) return printJson(body);
      printWebhook(body);
    });
}

function printWebhook(webhook: WebhookView): void {
  const lines: [string, string][] = [
    ['id', webhook.id],
    ['name', webhook.name ?? '-'],
    ['url', `${webhook.method} ${webhook.url}`],
    ['events', webhook.events.join(', ')],
    ['scope', describeScope(webhook)],
    ['active', webhook.active ? 'yes' : `no${webhook.disabledReason ? ` (${webhook.disabledReason})` : ''}`],
    ['content type', webhook.contentType],
    ['max attempts', String(webhook.maxAttempts)],
    ['custom CA', webhook.base64CA ? 'yes' : 'no'],
    ['proxy', webhook.proxy?.url ?? '-'],
    ['secret', webhook.hasSecret ? 'set (never shown)' : 'none'],
    ['last event', describeLastEvent(webhook)],
    ['created', formatTime(webhook.createdAt)],
  ];
  if (webhook.previousSecretExpiresAt) lines.push(['previous secret until', formatTime(webhook.previousSecretExpiresAt)]);
  const width = Math.max(...lines.map(([label]) => label.length));
  for (const [label, value] of lines) printLine(`${`${label}:`.padEnd(width + 2)}${value}`);
}

interface CreateFlags {
  heraldUrl?: string;
  token?: string;
  json?: boolean;
  url: string;
  events: string[];
  name?: string;
  secret?: string;
  tenant?: string;
  project?: string;
  method?: string;
  contentType?: string;
  maxAttempts?: number;
  inactive?: boolean;
  caFile?: string;
  proxy?: string;
}

function createCommand(): Command {
  // `--url` is the webhook's target here, as in the API; Herald's own address is `--herald-url`.
  return withConnectionOptions(new Command('create'), '--herald-url')
    .description('create a webhook; a secret Herald generates is printed this once')
    .requiredOption('--url <url>', 'where deliveries go (http or https)')
    .requiredOption('--events <names>', 'event names, separated by commas', commaList)
    .option('--name <name>', 'a description for people')
    .option('--secret <secret>', 'the signing secret (8+ characters); left out, Herald generates one')
    .option('--tenant <tenantId>', 'a company webhook: only events of this company')
    .option('--project <projectId>', 'a project webhook: only events of this project (with --tenant)')
    .addOption(new Option('--method <method>', 'HTTP method of deliveries').choices(['POST', 'PUT', 'PATCH']))
    .option('--content-type <type>', 'sent as Content-Type (default application/json)')
    .option('--max-attempts <n>', 'attempts per delivery, 1 to 20 (default 6)', integerIn(1, 20))
    .option('--inactive', 'create it switched off: it receives nothing until activated')
    .option('--ca-file <pem>', 'a PEM CA certificate the target is verified against instead of the public CAs')
    .option('--proxy <url>', 'an HTTP proxy deliveries go through')
    .action(async (flags: CreateFlags) => {
      const body = {
        url: flags.url,
        events: flags.events,
        name: flags.name,
        secret: flags.secret,
        tenantId: flags.tenant,
        projectId: flags.project,
        method: flags.method,
        contentType: flags.contentType,
        maxAttempts: flags.maxAttempts,
        ...(flags.inactive ? { active: false } : {}),
        ...(flags.caFile ? { base64CA: readCaFile(flags.caFile) } : {}),
        ...(flags.proxy ? { proxy: { url: flags.proxy } } : {}),
      };
      const connection = connectionOf({ url: flags.heraldUrl, token: flags.token });
      const { body: created } = await withApi(connection, (api) => api.post<Static<typeof WebhookCreatedView>>('/webhooks', body));
      if (flags.json) return printJson(created);
      printLine(`created ${created.id}: ${created.method} ${created.url} (${describeScope(created)})`);
      printLine(`events: ${created.events.join(', ')}${created.active ? '' : '; inactive'}`);
      if (created.secret) {
        printLine(`secret: ${created.secret}`);
        printNote('warning: this secret is shown this once. Store it with the receiver now; Herald never shows it again.');
      }
    });
}

/** The API takes the CA as base64 of the PEM text; people have the PEM file. */
function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --ca-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(`--ca-file ${file} holds no PEM certificate`, 'give the CA certificate as PEM (-----BEGIN CERTIFICATE-----)');
  }
  return Buffer.from(pem, 'utf8').toString('base64');
}

function deleteCommand(): Command {
  return withConnectionOptions(new Command('delete'))
    .description('delete a webhook and its pending deliveries')
    .argument('<id>', 'the webhook id (wh_...)')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)')
    .action(async (id: string, flags: ConnectionFlags & { json?: boolean; yes?: boolean }) => {
      const path = `/webhooks/${pathSegment(id)}`;
      const deleted = await withApi(connectionOf(flags), async (api) => {
        if (!flags.yes) {
          assertCanAsk(id);
          // Naming the target in the question catches the wrong id before it is too late.
          const { body: webhook } = await api.get<WebhookView>(path);
          if (!(await confirm(`delete webhook ${webhook.id} (${webhook.url})? Its pending deliveries are dropped too. [y/N] `))) {
            return false;
          }
        }
        await api.delete(path);
        return true;
      });
      if (!deleted) {
        printNote(`kept ${id}`);
        process.exitCode = 1;
        return;
      }
      // DELETE answers 204 without a body; scripts still get a JSON line to parse.
      if (flags.json) return printJson({ id, deleted: true });
      printLine(`deleted ${id}`);
    });
}

/** A question nobody can answer would hang a script, or be answered by piped data: refuse. */
function assertCanAsk(id: string): void {
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`not deleting ${id} without confirmation: this is not a terminal`, 'add --yes to delete without asking');
  }
}

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

function testCommand(): Command {
  return withConnectionOptions(new Command('test'))
    .description('send the webhook a test event ({ test: true } and its scope ids)')
    .argument('<id>', 'the webhook id (wh_...)')
    .option('--event <eventName>', 'one of its events (default: the first in alphabetical order)')
    .action(async (id: string, flags: ConnectionFlags & { json?: boolean; event?: string }) => {
      const body = flags.event ? { eventName: flags.event } : {};
      const { body: queued } = await withApi(connectionOf(flags), (api) =>
        api.post<Static<typeof QueuedDeliveryReply>>(`/webhooks/${pathSegment(id)}/test`, body),
      );
      if (flags.json) return printJson(queued);
      printLine(`queued a test event for ${id}: delivery ${queued.deliveryId}`);
      printNote(`follow it with: herald deliveries ${id} ${queued.deliveryId}`);
    });
}
