export { Dispatcher, type DispatcherOptions } from './dispatcher.js';
export { prepareRequest, judgeOutcome, nextStep } from './steps.js';
export type { DeliveryMetrics, FinishedAttempt } from './metrics.js';
