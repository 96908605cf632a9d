import { InMemorySpendBudgetStore } from '../../src/adapters/memory/InMemorySpendBudgetStore.js';
import { describeSpendBudgetStoreConformance } from './spendBudgetStoreConformance.js';

const store = new InMemorySpendBudgetStore();

describeSpendBudgetStoreConformance('in memory', () => store);
