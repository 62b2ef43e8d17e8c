export { AgentPool, type TargetTransport } from './agents.js';
export { createSender, defaultSendThreads, LocalSender, ThreadSender, type Sender, type SenderSettings } from './sender.js';
export { sendRequest, USER_AGENT, RESPONSE_BODY_KEPT_BYTES, type OutboundRequest, type SendOutcome } from './send.js';
export {
  isBlockedAddress,
  assertHostAllowed,
  BlockedAddressError,
  bareHost,
  NetworkAllowList,
  parseCidr,
} from './address-guard.js';
