import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { describeJobStoreConformance } from './jobStoreConformance.js';

describeJobStoreConformance('in memory', () => new InMemoryJobStore());
