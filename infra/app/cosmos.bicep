// Cosmos DB (NoSQL): the job records and one outcome per input line. Key auth is disabled; the app
// uses its identity with the built-in Data Contributor role (rbac.bicep).
param name string
param location string
param tags object = {}

@allowed([
  'serverless'
  'provisioned'
])
param capacityMode string = 'serverless'

@description('Autoscale maximum RU/s shared by the database (provisioned mode only).')
param autoscaleMaxThroughput int = 1000

param databaseName string

@description('Containers: { id, partitionKeyPath, defaultTtl?: seconds, includedPaths: [{ path }], excludedPaths: [{ path }] }.')
param containers array

var serverless = capacityMode == 'serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    // Entra ID only: no account keys for data access.
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Serverless accounts take no throughput settings.
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for container in containers: {
  parent: database
  name: container.id
  properties: {
    resource: {
      id: container.id
      partitionKey: {
        paths: [
          container.partitionKeyPath
        ]
        kind: 'Hash'
        version: 2
      }
      // Items expire this long after their last write; absent: they never do.
      defaultTtl: container.?defaultTtl
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: container.includedPaths
        excludedPaths: container.excludedPaths
      }
      // Seconds after its last write that a document expires; absent: never.
      defaultTtl: container.?defaultTtl
    }
  }
}]

output name string = account.name
output id string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
