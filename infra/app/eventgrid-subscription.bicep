// Delivers BlobCreated events for *.jsonl files in the input container to the ingest function's
// Event Grid blob trigger, through the blob extension webhook of the Functions host.
//
// Event Grid validates the webhook when the subscription is created; the webhook answers only once
// the function code is deployed and the host has created its blobs_extension system key. azd
// provisions before it deploys code, so this module is deployed by the postdeploy hook
// (infra/scripts/postdeploy.sh / .ps1), or by main.bicep when deployEventSubscription is true.
param systemTopicName string
param storageAccountName string
param functionAppName string

@description('Name of the blob-triggered function (source: EventGrid) that receives the events.')
param functionName string

param inputContainerName string
param deadLetterContainerName string

@description('Only files whose names end with this are delivered (compared case-insensitively).')
param subjectEndsWith string = '.jsonl'

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

var blobsExtensionKey = listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'evgs-${toLower(functionName)}'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${inputContainerName}/'
      subjectEndsWith: subjectEndsWith
      isSubjectCaseSensitive: false
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output name string = subscription.name
