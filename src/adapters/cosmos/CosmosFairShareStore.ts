import type { Container } from '@azure/cosmos';
import { writeIfUnchanged } from './statusOf.js';
import type { FairShareStore } from '../../app/ports.js';
import { EMPTY_FAIR_SHARE, type FairShareState } from '../../core/fairShare.js';

interface FairShareDocument extends FairShareState {
  readonly id: string;
  readonly _etag?: string;
}

const MAX_ATTEMPTS = 100;

/** The document's id in the budget container, beside the deployment's budget document (whose id is the deployment's). */
export const fairShareDocumentId = (deployment: string): string => `fair-share.${deployment}`;

/**
 * A deployment's fair-share state as one small document in the budget container (partition key `/id`),
 * changed only by ETag-conditional replaces: two feeders never hand out the same turn.
 */
export class CosmosFairShareStore implements FairShareStore {
  constructor(private readonly container: Container) {}

  async read(deployment: string): Promise<FairShareState> {
    const id = fairShareDocumentId(deployment);
    const { resource } = await this.container.item(id, id).read<FairShareDocument>();
    return resource === undefined ? EMPTY_FAIR_SHARE : stateOf(resource);
  }

  async update<T>(
    deployment: string,
    change: (state: FairShareState) => { state: FairShareState; result: T },
  ): Promise<T> {
    const id = fairShareDocumentId(deployment);
    const item = this.container.item(id, id);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const { resource } = await item.read<FairShareDocument>();
      const { state, result } = change(resource === undefined ? EMPTY_FAIR_SHARE : stateOf(resource));
      const document: FairShareDocument = { id, ...state };
      // Another instance created or changed it first: read again.
      if (await writeIfUnchanged(this.container, resource, document)) return result;
    }
    throw new Error(`Fair share of ${deployment}: too much contention on the shared state`);
  }
}

function stateOf(resource: FairShareDocument): FairShareState {
  return {
    virtualTime: resource.virtualTime,
    jobs: resource.jobs,
    pendingFeeds: resource.pendingFeeds,
    ...(resource.latencyInMs === undefined ? {} : { latencyInMs: resource.latencyInMs }),
  };
}
