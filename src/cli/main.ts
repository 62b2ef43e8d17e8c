import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger, startHerald } from '../herald.js';
import { SqliteStore } from '../store/index.js';

const program = new Command()
  .name('herald')
  .description('Herald: signed, retried, recorded webhook delivery for platform events');

program
  .command('serve')
  .description('start the API and the delivery loop (configured by HERALD_* environment variables)')
  .action(async () => {
    const config = loadConfigOrExit();
    const logger = createLogger(config);
    const herald = await startHerald(config, { logger });
    if (herald.createdAdminToken) printAdminTokenOnce(herald.createdAdminToken);
    // Plain text whatever the log level: people and scripts wait for this line.
    process.stdout.write(`Herald is listening on ${herald.url}\n`);
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

program
  .command('migrate')
  .description('create or upgrade the database schema, then exit')
  .action(async () => {
    const config = loadConfigOrExit();
    const store = await SqliteStore.open(config.dataDir);
    await store.close();
    process.stdout.write(`database in ${config.dataDir} is up to date\n`);
  });

function loadConfigOrExit() {
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

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`herald: ${(error as Error).message}\n`);
  process.exit(1);
});
