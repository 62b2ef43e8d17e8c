export { buildApi } from './app.js';
export { TokenAuthority, hashToken, type Principal } from './auth.js';
export type { ApiContext } from './context.js';
export { HeraldMetrics } from './metrics.js';
