import type { Container } from '@azure/cosmos';
import { statusOf } from './statusOf.js';
import type { RollupStore } from '../../app/ports.js';
import { rollupId, type CostRollup, type RollupKey } from '../../core/costReport.js';

type RollupDocument = CostRollup & {
  _etag?: string;
  _rid?: string;
  _self?: string;
  _attachments?: string;
  _ts?: number;
};

function strip(resource: RollupDocument): CostRollup {
  const { _etag, _rid, _self, _attachments, _ts, ...rollup } = resource;
  return rollup;
}

/**
 * Rollups partitioned by `/day`: a refresh writes one day's partition, and a report for a range of
 * days reads those days' partitions only.
 */
export class CosmosRollupStore implements RollupStore {
  constructor(private readonly container: Container) {}

  async get(jobId: string, key: RollupKey): Promise<{ rollup: CostRollup; etag: string } | undefined> {
    const { resource } = await this.container.item(rollupId(key.day, key.model, jobId), key.day).read<RollupDocument>();
    if (resource === undefined) return undefined;
    return { rollup: strip(resource), etag: resource._etag ?? '' };
  }

  async listJob(jobId: string): Promise<Array<{ rollup: CostRollup; etag: string }>> {
    // Across the day partitions: a job's rollups are a few (its days × its models).
    const { resources } = await this.container.items
      .query<RollupDocument>({
        query: 'SELECT * FROM c WHERE c.jobId = @jobId',
        parameters: [{ name: '@jobId', value: jobId }],
      })
      .fetchAll();
    return resources.map((resource) => ({ rollup: strip(resource), etag: resource._etag ?? '' }));
  }

  async create(rollup: CostRollup): Promise<boolean> {
    try {
      await this.container.items.create(rollup);
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  async replace(rollup: CostRollup, etag: string): Promise<boolean> {
    try {
      await this.container
        .item(rollup.id, rollup.day)
        .replace(rollup, { accessCondition: { type: 'IfMatch', condition: etag } });
      return true;
    } catch (error) {
      if (statusOf(error) === 412) return false;
      throw error;
    }
  }

  async *listDays(fromDay: string, toDay: string): AsyncIterable<CostRollup> {
    const iterator = this.container.items.query<RollupDocument>(
      {
        query: 'SELECT * FROM c WHERE c.day >= @from AND c.day <= @to',
        parameters: [
          { name: '@from', value: fromDay },
          { name: '@to', value: toDay },
        ],
      },
      { maxItemCount: 500 },
    );
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      for (const resource of page.resources) yield strip(resource);
    }
  }
}
