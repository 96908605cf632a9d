// The user-assigned identity the function app runs as: storage, queues, Cosmos DB, Key Vault and
// Application Insights all grant their roles to it (rbac.bicep).
param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
