export {
  createTokenCounter,
  chatMessageText,
  tokenizerFamilyForModel,
  TokenizerFamily,
  PHI3_SPECIAL_TOKENS,
  MESSAGE_COUNT_CACHE_MAX_ENTRIES,
} from './createTokenCounter.js';
export { LruCache } from './LruCache.js';
