import { InMemoryResponseCache } from '../../src/adapters/memory/InMemoryResponseCache.js';
import { describeResponseCacheConformance } from './responseCacheConformance.js';

describeResponseCacheConformance('in memory', () => new InMemoryResponseCache());
