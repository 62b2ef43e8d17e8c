import { createHash } from 'node:crypto';
import pg from 'pg';

/** Statement names by their text: hashing the text again at every call would cost more than it saves. */
const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `herald_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * A connection that prepares every statement sent with parameters, under a name made from its
 * text: PostgreSQL then parses and analyses it once per connection rather than at every call,
 * and the claim, publish and outcome statements are long CTEs that took about as long to parse
 * and plan as to run. Statements without parameters (BEGIN, DDL, LISTEN) go as they are.
 */
export class PreparedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const send = this.query.bind(this) as (...args: unknown[]) => unknown;
    this.query = ((text: unknown, values?: unknown, ...rest: unknown[]) =>
      typeof text === 'string' && Array.isArray(values)
        ? send({ name: statementName(text), text, values }, ...rest)
        : send(text, values, ...rest)) as typeof this.query;
  }
}
