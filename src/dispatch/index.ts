export { Dispatcher, HANDED_OFF_WAIT_MS, type DispatcherOptions } from './dispatcher.js';
export { HandOffOffering, RemoteHandOff } from './hand-off.js';
export { prepareRequest, judgeOutcome, nextStep } from './steps.js';
export type { DeliveryMetrics, FinishedAttempt } from './metrics.js';
