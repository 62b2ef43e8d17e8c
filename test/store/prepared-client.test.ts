import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PreparedClient } from '../../src/store/postgres/prepared-client.js';
import { TEST_DATABASE_URL } from '../support/postgres.js';

/** The PostgreSQL store's connections prepare what they send with parameters, once each. */

test('a statement with parameters is prepared once per connection and reused; one without goes as it is', async () => {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, Client: PreparedClient, max: 1 });
  try {
    for (const n of [1, 2, 3]) {
      const { rows } = await pool.query('SELECT $1::int + 41 AS answer', [n]);
      assert.equal(rows[0].answer, n + 41);
    }
    assert.equal((await pool.query('SELECT $1::text AS other', ['x'])).rows[0].other, 'x');
    await pool.query('BEGIN');
    await pool.query('COMMIT');
    const prepared = (await pool.query("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::%'")).rows;
    assert.deepEqual(prepared.map((row) => row.statement).sort(), ['SELECT $1::int + 41 AS answer', 'SELECT $1::text AS other']);
  } finally {
    await pool.end();
  }
});
