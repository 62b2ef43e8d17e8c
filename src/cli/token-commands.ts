import { Command, Option } from 'commander';
import { checkTokenReach, ROLES, type Role } from '../core/access.js';
import { HeraldError } from '../core/errors.js';
import { parseDuration } from '../core/retry.js';
import { TokenAuthority } from '../api/auth.js';
import type { Store, TokenRecord } from '../store/index.js';

type WithStore = <T>(work: (store: Store) => Promise<T>) => Promise<T>;

/** `herald token create|list|revoke`: the same tokens as /api/tokens, from the command line. */
export function tokenCommand(withStore: WithStore): Command {
  const token = new Command('token').description('create, list and revoke API tokens');

  token
    .command('create')
    .description('create a token and print it (it is shown this once)')
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
    .option('--tenant <tenantId>', 'the company a company, project or publisher token is limited to')
    .option('--project <projectId>', 'the project a project token is limited to')
    .option('--name <name>', 'a description for people')
    .option('--expires-in <duration>', 'lifetime such as 12h or 90d')
    .option('--json', 'print JSON')
    .action(async (options: { role: Role; tenant?: string; project?: string; name?: string; expiresIn?: string; json?: boolean }) => {
      const spec = {
        role: options.role,
        tenantId: options.tenant ?? null,
        projectId: options.project ?? null,
        name: options.name ?? null,
        expiresAt: options.expiresIn === undefined ? null : Date.now() + parseDurationOption(options.expiresIn),
      };
      try {
        checkTokenReach(spec);
      } catch (error) {
        fail(error instanceof HeraldError ? `${error.field}: ${error.message}` : String(error));
      }
      const { token: text, record } = await withStore((store) => new TokenAuthority(store, null).issue(spec));
      if (options.json) return print(JSON.stringify({ ...record, token: text }));
      print(`${text}\n\ncreated ${describe(record)}; the token is shown this once`);
    });

  token
    .command('list')
    .description('list tokens (never the tokens themselves)')
    .option('--tenant <tenantId>', 'only the tokens limited to this company')
    .option('--json', 'print JSON')
    .action(async (options: { tenant?: string; json?: boolean }) => {
      const records = await withStore((store) => store.listTokens(options.tenant ? { tenantId: options.tenant } : {}));
      if (options.json) return print(JSON.stringify(records));
      print(records.length ? records.map(describe).join('\n') : 'no tokens');
    });

  token
    .command('revoke')
    .description('revoke a token by its id; it stops working at once')
    .argument('<id>')
    .action(async (id: string) => {
      const revoked = await withStore((store) => store.revokeToken(id, Date.now()));
      if (!revoked) fail(`no active token ${id} (see \`herald token list\`)`);
      print(`revoked ${id}`);
    });

  return token;
}

function describe(record: TokenRecord): string {
  const reach = [record.tenantId && `tenant ${record.tenantId}`, record.projectId && `project ${record.projectId}`].filter(Boolean);
  const state = record.revokedAt
    ? 'revoked'
    : record.expiresAt
      ? `expires ${new Date(record.expiresAt).toISOString()}`
      : 'no expiry';
  return [record.id, record.role, ...reach, record.name ? `"${record.name}"` : null, state].filter(Boolean).join('  ');
}

function parseDurationOption(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    return fail(`--expires-in ${(error as Error).message}`);
  }
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function fail(message: string): never {
  process.stderr.write(`herald token: ${message}\n`);
  process.exit(2);
}
