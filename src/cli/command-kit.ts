import { Command, InvalidArgumentError, Option } from 'commander';
import { connectionFrom, DEFAULT_HERALD_URL, type Connection } from './api-client.js';

/**
 * Options shared by every command that talks to a running Herald, so each one reads them the
 * same way: where Herald is, the token, and `--json`.
 */

export interface ConnectionFlags {
  /** Herald's address; `webhooks create` passes its `--herald-url` here. */
  url?: string;
  token?: string;
}

/**
 * Adds `--url` (or `--herald-url` on `webhooks create`, whose `--url` is the webhook's target),
 * `--token` and `--json`. Both read their environment variable when left out.
 */
export function withConnectionOptions(command: Command, urlFlag: '--url' | '--herald-url' = '--url'): Command {
  return command
    .addOption(
      new Option(`${urlFlag} <url>`, `Herald's address (default: ${DEFAULT_HERALD_URL})`).env('HERALD_URL'),
    )
    .addOption(
      new Option('--token <token>', 'API token; prefer HERALD_TOKEN, since arguments are visible to other local users').env(
        'HERALD_TOKEN',
      ),
    )
    .option('--json', "print Herald's JSON answer instead of a table");
}

/** The connection a command's options describe; a missing token is a usage error. */
export function connectionOf(flags: ConnectionFlags): Connection {
  return connectionFrom({ url: flags.url, token: flags.token });
}

/** Commander parser for a whole number within a range, with a message naming the range. */
export function integerIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

/** Commander parser for `a,b,c`, blanks dropped. */
export function commaList(text: string): string[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('give at least one value, separated by commas');
  return items;
}
