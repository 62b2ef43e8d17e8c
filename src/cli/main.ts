import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { deliveriesCommand, resendCommand } from './delivery-commands.js';
import { EXIT_USAGE, printFailure, UsageError } from './failures.js';
import { listenCommand } from './listen-command.js';
import { publishCommand } from './publish-command.js';
import { serverCommands, withConfiguredStore } from './server-commands.js';
import { tokenCommand } from './token-commands.js';
import { webhooksCommand } from './webhook-commands.js';

/**
 * The `herald` command. Two families: commands that run Herald or open its database (`serve`,
 * `migrate`, `export`, `import`, `token`), and commands that talk to a running Herald over its
 * API (`webhooks`, `publish`, `deliveries`, `resend`) or receive from it (`listen`).
 */
const program = new Command()
  .name('herald')
  .description('Herald: signed, retried, recorded webhook delivery for platform events');

for (const command of serverCommands()) program.addCommand(command);
program.addCommand(tokenCommand(withConfiguredStore));
program.addCommand(webhooksCommand());
program.addCommand(publishCommand());
program.addCommand(deliveriesCommand());
program.addCommand(resendCommand());
program.addCommand(listenCommand());

throwInsteadOfExiting(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help) already; only the exit code is left.
    process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
  }
  printFailure(error instanceof ConfigError ? new UsageError(error.message) : error);
  // A command that failed half-way (a server that did not start) may still hold the event loop.
  process.exit();
});

/**
 * Commander exits with 1 on a usage mistake; scripts tell "misused" (2) from "Herald said no" (1),
 * so its errors are thrown to the handler above instead. `addCommand` does not pass this setting
 * down, hence the walk over every command.
 */
function throwInsteadOfExiting(command: Command): void {
  command.exitOverride();
  for (const child of command.commands) throwInsteadOfExiting(child);
}
