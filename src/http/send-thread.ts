/**
 * A sending thread (see ThreadSender): runs the requests it is given on its own event loop
 * and answers in batches, one message per turn of that loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LocalSender, type SenderSettings, type ThreadAnswer, type ThreadJob, type ToThread } from './sender.js';

const port = parentPort!;
const sender = new LocalSender(workerData as SenderSettings);
let answers: ThreadAnswer[] = [];

function answer(id: number, outcome: ThreadAnswer['outcome']): void {
  if (answers.length === 0) setImmediate(flush);
  answers.push({ id, outcome });
}

function flush(): void {
  const batch = answers;
  answers = [];
  port.postMessage(batch);
}

function run(job: ThreadJob): void {
  const request = { ...job.request, body: Buffer.from(job.request.body, 'utf8') };
  void sender.send(request, job.transport).then((outcome) => answer(job.id, outcome));
}

port.on('message', (message: ToThread) => {
  if (message.kind === 'cancel') sender.cancelAll();
  else for (const job of message.jobs) run(job);
});
