import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';

/** A user-assigned identity when a client id is configured, otherwise whatever the environment offers. */
export function createAzureCredential(clientId: string | undefined): TokenCredential {
  return clientId === undefined ? new DefaultAzureCredential() : new ManagedIdentityCredential({ clientId });
}
