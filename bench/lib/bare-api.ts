/**
 * The ingest baseline, run as its own process: Fastify with the same publish route shape and
 * body limit as Herald's, parsing the JSON and answering 202 with an id per event, storing
 * nothing. Herald's ingest figure over this one is the cost of validating and storing durably.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const PUBLISH_BODY_LIMIT = 16 * 1024 * 1024;

interface PublishBody {
  events?: unknown[];
}

const app = Fastify({ logger: false, bodyLimit: PUBLISH_BODY_LIMIT });
app.post('/api/events', async (request, reply) => {
  const body = request.body as PublishBody;
  reply.code(202);
  if (Array.isArray(body.events)) return { events: body.events.map(() => ({ id: randomUUID(), deliveries: 0 })) };
  return { id: randomUUID(), deliveries: 0 };
});

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ type: 'ready', port: Number(new URL(address).port) });
process.on('disconnect', () => process.exit(0));
