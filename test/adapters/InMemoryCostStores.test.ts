import { InMemoryJobSpendStore } from '../../src/adapters/memory/InMemoryJobSpendStore.js';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { InMemoryRollupStore } from '../../src/adapters/memory/InMemoryRollupStore.js';
import { InMemoryUsageLedger } from '../../src/adapters/memory/InMemoryUsageLedger.js';
import { describeCostStoresConformance } from './costStoresConformance.js';

const jobs = new InMemoryJobStore();
const stores = {
  ledger: new InMemoryUsageLedger(),
  rollups: new InMemoryRollupStore(),
  jobs,
  jobSpend: new InMemoryJobSpendStore(jobs),
};

describeCostStoresConformance('in memory', () => stores);
