// Binary array parameters, read back by the test PostgreSQL server as the statements read them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { boolArray, int4Array, int8Array, textArray } from '../../src/store/postgres/binary-arrays.js';
import { TEST_DATABASE_URL } from '../support/postgres.js';

let client: pg.Client;
before(async () => {
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
});
after(async () => client.end());

/** Each element as PostgreSQL sees it, in order, by unnest as the store's statements use them. */
async function unnested(parameter: Buffer, type: string): Promise<unknown[]> {
  const { rows } = await client.query(`SELECT v::text AS v FROM unnest($1::${type}) WITH ORDINALITY AS a (v, n) ORDER BY n`, [parameter]);
  return rows.map((row) => row.v);
}

test('text arrays keep every character a literal would have to escape, and NULLs', async () => {
  const values = ['plain', '', 'NULL', '{"a": [1, "b,c"]}', 'back\\slash "quote"', 'tab\tline\nend', 'żółw 🐢 ünï', null, 'last'];
  assert.deepEqual(await unnested(textArray(values), 'text[]'), values);
});

test('a lone surrogate arrives as U+FFFD, as on the wire; a NUL character is refused by the server', async () => {
  assert.deepEqual(await unnested(textArray(['a\ud800b']), 'text[]'), ['a\ufffdb']);
  await assert.rejects(unnested(textArray(['a\u0000b']), 'text[]'), /invalid byte sequence|0x00/);
});

test('integer and boolean arrays keep their values, their extremes and NULLs', async () => {
  const times = [0, 1_800_000_000_000, -5, Number.MAX_SAFE_INTEGER, null];
  assert.deepEqual(await unnested(int8Array(times), 'int8[]'), times.map((value) => (value === null ? null : String(value))));
  const counts = [0, 200, -1, 2_147_483_647, -2_147_483_648, null];
  assert.deepEqual(await unnested(int4Array(counts), 'int4[]'), counts.map((value) => (value === null ? null : String(value))));
  assert.deepEqual(await unnested(boolArray([true, false, null]), 'bool[]'), ['true', 'false', null]);
});

test('empty arrays are empty, and an array cast to another element type is refused', async () => {
  assert.deepEqual(await unnested(textArray([]), 'text[]'), []);
  assert.deepEqual(await unnested(int8Array([]), 'int8[]'), []);
  await assert.rejects(unnested(textArray(['1']), 'int4[]'), /element type 25 \(text\) instead of expected 23/);
});
