import { describe } from 'vitest';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { itKeepsBlockBlobsLikeAzure } from './blobBlocksConformance.js';

describe('InMemoryBlobStore blocks', () => {
  itKeepsBlockBlobsLikeAzure(() => new InMemoryBlobStore(), 'c');
});
