export { azuriteAccount, startAzurite, type LocalAzurite, type StartAzuriteOptions } from './startAzurite.js';
export {
  cosmosEmulatorKey,
  createLocalCosmosAgent,
  NonLoopbackHostError,
  startCosmos,
  type LocalCosmos,
  type StartCosmosOptions,
} from './startCosmos.js';
export {
  localStackDataPaths,
  localStackSettingNames,
  startLocalStack,
  type LocalStack,
  type StartLocalStackOptions,
} from './startLocalStack.js';
export { startLocalStackProcesses, type LocalStackProcesses } from './startLocalStackProcesses.js';
export {
  CosmosJournal,
  CosmosJournalError,
  type CosmosJournalOptions,
  type CosmosJournalStats,
} from './CosmosJournal.js';
