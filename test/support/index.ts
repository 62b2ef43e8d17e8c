export { createTestPki, createUnrelatedCaPem } from './tls.js';
export type { TestPki, TestPkiOptions } from './tls.js';
export { startReceiver, failTimesThenSucceed } from './receiver.js';
export type { Receiver, ReceiverOptions, ReceivedRequest, Responder, ResponderReply } from './receiver.js';
export { startProxy } from './proxy.js';
export type { ProxyOptions, SeenProxyRequest, TestProxy } from './proxy.js';
export { waitUntil } from './wait.js';
export type { WaitUntilOptions } from './wait.js';
export { makeTempDir, removeDir } from './tmp.js';
