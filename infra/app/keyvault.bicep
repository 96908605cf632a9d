// Key Vault (RBAC mode) holding the Phi-3 endpoint key. The app never sees the key in its settings:
// PHI3_API_KEY is a Key Vault reference resolved by the platform with the app's identity.
param name string
param location string
param tags object = {}

@secure()
param phi3ApiKey string

param phi3ApiKeySecretName string = 'phi3-api-key'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource phi3ApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: phi3ApiKeySecretName
  properties: {
    value: phi3ApiKey
    contentType: 'Phi-3 serverless endpoint key'
  }
}

output name string = vault.name
output id string = vault.id
// Versionless: the app follows the latest version when the key is rotated.
output phi3KeyUri string = phi3ApiKeySecret.properties.secretUri
output uri string = vault.properties.vaultUri
