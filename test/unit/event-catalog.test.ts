import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { customEventType, EventCatalog } from '../../src/core/event-catalog.js';

describe('event catalog: the tenant and project an event belongs to', () => {
  const catalog = new EventCatalog([
    customEventType({ name: 'nested_thing', tenantIdPointer: '/owner/company', projectIdPointer: '/owner/project/id' }),
    // RFC 6901 escapes: "~1" is "/" and "~0" is "~" inside a key.
    customEventType({ name: 'escaped_keys', tenantIdPointer: '/a~1b', projectIdPointer: '/c~0d/~01' }),
  ]);

  test('reads each pointer, nested or escaped', () => {
    assert.deepEqual(catalog.scopeOf('nested_thing', { owner: { company: 't1', project: { id: 'p1' } } }), {
      tenantId: 't1',
      projectId: 'p1',
    });
    assert.deepEqual(catalog.scopeOf('escaped_keys', { 'a/b': 't2', 'c~d': { '~1': 'p2' } }), { tenantId: 't2', projectId: 'p2' });
  });

  test('a missing, empty or non-string value belongs to no tenant or project', () => {
    assert.deepEqual(catalog.scopeOf('nested_thing', { owner: { company: '', project: 'p1' } }), { tenantId: null, projectId: null });
    assert.deepEqual(catalog.scopeOf('nested_thing', { owner: { company: 7, project: { id: ['p1'] } } }), {
      tenantId: null,
      projectId: null,
    });
    assert.deepEqual(catalog.scopeOf('nested_thing', {}), { tenantId: null, projectId: null });
  });

  test('an inherited property is not the payload\'s own', () => {
    assert.deepEqual(catalog.scopeOf('escaped_keys', Object.create({ 'a/b': 't3' }) as Record<string, unknown>), {
      tenantId: null,
      projectId: null,
    });
  });
});
