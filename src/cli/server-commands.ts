import fs from 'node:fs';
import { Command, Option } from 'commander';
import type { HeraldConfig } from '../config.js';
import type { HeraldRole } from '../herald.js';
import type { Snapshot, Store } from '../store/index.js';

/**
 * The commands that run Herald itself or open its database: `serve`, `migrate`, `export`,
 * `import`. The server modules (Fastify, the store drivers) are imported only when one of them
 * runs, so the commands that talk to a running Herald over HTTP start without loading them.
 */
export function serverCommands(): Command[] {
  return [serveCommand(), migrateCommand(), exportCommand(), importCommand()];
}

function serveCommand(): Command {
  return new Command('serve')
    .description('start the API and the delivery loop (configured by HERALD_* environment variables)')
    .addOption(
      new Option('--role <role>', 'api: only the API; worker: only delivery; all: both (api and worker need PostgreSQL)')
        .choices(['api', 'worker', 'all'])
        .default('all'),
    )
    .action(async (options: { role: HeraldRole }) => {
      const config = await loadConfigOrExit();
      const { createLogger, startHerald } = await import('../herald.js');
      const logger = createLogger(config);
      const herald = await startHerald(config, { logger, role: options.role });
      if (herald.createdAdminToken) printAdminTokenOnce(herald.createdAdminToken);
      // Plain text whatever the log level: people and scripts wait for this line.
      process.stdout.write(
        herald.url
          ? `Herald is listening on ${herald.url}\n`
          : `Herald is delivering (worker, ${herald.store.kind}); /healthz, /readyz and /metrics on ${herald.probesUrl}\n`,
      );
      let signals = 0;
      const shutDown = (signal: string) => {
        // A second signal means "now": skip the graceful part.
        if (++signals > 1) process.exit(1);
        logger.info({ signal }, 'shutting down');
        herald.stop().then(
          () => {
            process.stdout.write('Herald stopped\n');
            process.exit(0);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutDown('SIGTERM'));
      process.on('SIGINT', () => shutDown('SIGINT'));
    });
}

function migrateCommand(): Command {
  return new Command('migrate').description('create or upgrade the database schema, then exit').action(async () => {
    const store = await openConfiguredStore(await loadConfigOrExit());
    await store.close();
    process.stdout.write(`the ${store.kind} database is up to date\n`);
  });
}

function exportCommand(): Command {
  return new Command('export')
    .description('write webhooks (with their secrets), custom event types and tokens to a JSON file')
    .requiredOption('--out <file>', 'where to write; created readable by its owner only')
    .action(async (options: { out: string }) => {
      await withConfiguredStore(async (store) => {
        const snapshot = await store.exportSnapshot();
        fs.writeFileSync(options.out, JSON.stringify(snapshot, null, 2), { mode: 0o600, flag: 'wx' });
        process.stdout.write(
          `exported ${snapshot.webhooks.length} webhooks, ${snapshot.eventTypes.length} event types and ` +
            `${snapshot.tokens.length} tokens to ${options.out}; it holds the webhook secrets: keep it safe\n`,
        );
      });
    });
}

function importCommand(): Command {
  return new Command('import')
    .description('read a file written by `herald export` into the configured database (existing ids are kept)')
    .argument('<file>')
    .action(async (file: string) => {
      const snapshot = await readSnapshotOrExit(file);
      const { importSnapshot } = await import('../store/index.js');
      await withConfiguredStore(async (store) => {
        const added = await importSnapshot(store, snapshot, Date.now());
        process.stdout.write(
          `imported ${added.webhooks} webhooks, ${added.eventTypes} event types and ${added.tokens} tokens into ${store.kind}\n`,
        );
      });
    });
}

async function readSnapshotOrExit(file: string): Promise<Snapshot> {
  const { parseSnapshot } = await import('../store/index.js');
  try {
    return parseSnapshot(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (error) {
    process.stderr.write(`herald: ${file} is not a Herald export: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

/** Opens the configured store for one command's work and closes it afterwards. */
export async function withConfiguredStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openConfiguredStore(await loadConfigOrExit());
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Every command that opens the database needs the key of its webhook secrets: the import
 * encrypts them with it, the export decrypts them, migrate encrypts rows stored in plain text. */
async function openConfiguredStore(config: HeraldConfig): Promise<Store> {
  const { loadSecretBox, openStore } = await import('../store/index.js');
  // These commands are short: they may run beside a Herald that serves from the same folder.
  return openStore(config, loadSecretBox(config), { shared: true });
}

async function loadConfigOrExit(): Promise<HeraldConfig> {
  const { ConfigError, loadConfig } = await import('../config.js');
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`herald: ${error.message}\n`);
    process.exit(2);
  }
}

/** Written straight to the terminal, not through the logger: logs must never hold a token. */
function printAdminTokenOnce(token: string): void {
  process.stdout.write(
    [
      '',
      '  An admin token was created for this Herald. It is shown this once and stored only as a hash:',
      '',
      `    ${token}`,
      '',
      '  Use it as "Authorization: Bearer <token>" on /api. Set HERALD_ADMIN_TOKEN to choose your own.',
      '',
    ].join('\n') + '\n',
  );
}
