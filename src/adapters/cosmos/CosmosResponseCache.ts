import type { Container } from '@azure/cosmos';
import type { ResponseCache } from '../../app/ports.js';
import type { CachedAnswer } from '../../core/responseCache.js';

type CacheDocument = Omit<CachedAnswer, 'key'> & { readonly id: string };

/**
 * Stored answers partitioned by `/id`, the cache key: every read and write is a point operation on its
 * own logical partition. The container's default TTL (the infra's, equal to the maximum age) removes
 * old answers; reads do not rely on it (the caller checks `storedAtInMs`).
 */
export class CosmosResponseCache implements ResponseCache {
  constructor(private readonly container: Container) {}

  async getMany(keys: readonly string[]): Promise<Map<string, CachedAnswer>> {
    const unique = [...new Set(keys)];
    // Point reads side by side: a read of a missing id is a 404 the SDK returns as an undefined resource.
    const reads = await Promise.all(unique.map((key) => this.container.item(key, key).read<CacheDocument>()));
    const found = new Map<string, CachedAnswer>();
    reads.forEach(({ resource }, index) => {
      if (resource !== undefined) found.set(unique[index]!, fromDocument(resource));
    });
    return found;
  }

  async put(answer: CachedAnswer): Promise<void> {
    await this.container.items.upsert<CacheDocument>(toDocument(answer));
  }
}

function toDocument(answer: CachedAnswer): CacheDocument {
  const { key, ...rest } = answer;
  return { id: key, ...rest };
}

function fromDocument(resource: CacheDocument): CachedAnswer {
  const { id, deployment, model, completion, usage, requestId, costInNanos, storedAtInMs } = resource;
  return { key: id, deployment, model, completion, usage, requestId, costInNanos, storedAtInMs };
}
