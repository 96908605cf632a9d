import { createRequire } from 'node:module';
import { LocalHostError, LocalHostErrorCode } from './errors.js';

/** What the host sends for an `sdkBinding: true` blob trigger instead of the blob's bytes. */
export interface ModelBindingData {
  readonly source: string;
  readonly contentType: string;
  readonly version: string;
  readonly content: Buffer;
}

interface ResourceFactoryResolverLike {
  createClient(resourceType: string | null | undefined, modelBindingData: unknown): unknown;
  hasResourceFactory(resourceType: string): boolean;
}

interface ExtensionsBaseModule {
  readonly ResourceFactoryResolver: { getInstance(): ResourceFactoryResolverLike };
}

/** The package's .mjs build has only a default export (the webpack bundle's exports object). */
interface ExtensionsBaseEsmModule {
  readonly ResourceFactoryResolver?: ExtensionsBaseModule['ResourceFactoryResolver'];
  readonly default?: Partial<ExtensionsBaseModule>;
}

export const blobModelBindingSource = 'AzureStorageBlobs';

export function createBlobModelBindingData(
  connection: string,
  containerName: string,
  blobName: string,
): ModelBindingData {
  return {
    source: blobModelBindingSource,
    contentType: 'application/json',
    version: '1.0',
    content: Buffer.from(JSON.stringify({ Connection: connection, ContainerName: containerName, BlobName: blobName })),
  };
}

/**
 * The resolver `@azure/functions` itself uses: it `require`s `@azure/functions-extensions-base` (the
 * CommonJS build). An ESM `import` of that package loads the .mjs build, a different singleton.
 */
function loadLibraryResolver(): ResourceFactoryResolverLike {
  const require = createRequire(import.meta.url);
  const libraryEntry = require.resolve('@azure/functions');
  const base = createRequire(libraryEntry)('@azure/functions-extensions-base') as ExtensionsBaseModule;
  return base.ResourceFactoryResolver.getInstance();
}

async function isRegisteredInEsmBuild(source: string): Promise<boolean> {
  try {
    const esm = (await import('@azure/functions-extensions-base')) as ExtensionsBaseEsmModule;
    const resolver = esm.ResourceFactoryResolver ?? esm.default?.ResourceFactoryResolver;
    return resolver?.getInstance().hasResourceFactory(source) ?? false;
  } catch {
    // The diagnostic is best effort: without the package there is nothing to compare.
    return false;
  }
}

/** Turns ModelBindingData into the app's client, exactly as the library's fromRpcTypedData does. */
export async function createClientFromModelBindingData(data: ModelBindingData): Promise<unknown> {
  const resolver = loadLibraryResolver();
  if (!resolver.hasResourceFactory(data.source) && (await isRegisteredInEsmBuild(data.source))) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidBinding,
      `A "${data.source}" factory is registered with the ESM build of @azure/functions-extensions-base, but ` +
        '@azure/functions reads the CommonJS build (a separate singleton), so Azure would not find it either. ' +
        "Register it through createRequire(import.meta.url)('@azure/functions-extensions-base').",
    );
  }
  try {
    return resolver.createClient(data.source, data);
  } catch (error) {
    // Same wording as the library, so local failures read like the ones in Azure.
    throw new Error(
      'Unable to create client. Please register the extensions library with your function app. ' +
        `Error: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
