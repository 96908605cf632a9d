import { describe } from 'vitest';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { itKeepsBlockBlobsLikeAzure } from './blobBlocksConformance.js';
import { itRefusesAChangedVersion } from './blobVersionConformance.js';

describe('InMemoryBlobStore blocks', () => {
  itKeepsBlockBlobsLikeAzure(() => new InMemoryBlobStore(), 'c');
});

describe('InMemoryBlobStore versions', () => {
  itRefusesAChangedVersion(() => new InMemoryBlobStore(), 'c');
});
