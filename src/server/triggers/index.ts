export { TriggerRegistry, WebhookSignatureError, skip } from './types.js';
export type { TriggerParser, TriggerRequest, TriggerResult, TriggerSkip, TriggerStart } from './types.js';
export { hmacWebhook } from './hmac.js';
export type { HmacAlgorithm, HmacWebhookOptions, SignatureCheck, SignatureEncoding } from './hmac.js';
export { githubWebhook } from './github.js';
export type { GithubWebhookInput, GithubWebhookOptions } from './github.js';
