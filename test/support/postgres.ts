import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL the tests use; `.ci/run` makes sure one is running there. */
export const TEST_DATABASE_URL = process.env.HERALD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name per test, so runs never see each other's rows. */
export function freshSchemaName(): string {
  return `herald_test_${randomBytes(6).toString('hex')}`;
}

/** A schema name tied to a folder: the same folder always gives the same schema. */
export function schemaForFolder(folder: string): string {
  return `herald_test_${createHash('sha256').update(folder).digest('hex').slice(0, 12)}`;
}

export async function dropSchemas(schemas: string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
