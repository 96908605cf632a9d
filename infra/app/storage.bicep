// The one storage account: the Functions host's own state (AzureWebJobsStorage), the code package,
// the app's input/output containers and its queues. Reached only with Entra ID identities.
param name string
param location string
param tags object = {}

@description('Blob containers to create.')
param containerNames array

@description('Queues to create.')
param queueNames array

@description('The output container: its files are deleted this many days after their last change.')
param outputContainerName string

@minValue(0)
@description('Days output files are kept; 0 = for ever (no lifecycle rule).')
param outputRetentionDays int = 0

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    // No account keys, no SAS signed with them: every caller uses its identity and a role.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue

// Output files (results, errors, staged parts, a batch's input copy: all under {jobId}/ in the output
// container) are deleted once past retention, counted from their last change, as are old versions and snapshots.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (outputRetentionDays > 0) {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-output-files'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${outputContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: outputRetentionDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: outputRetentionDays
                }
              }
              version: {
                delete: {
                  daysAfterCreationGreaterThan: outputRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}
