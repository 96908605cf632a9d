// phi3-batch on Azure: a Flex Consumption function app that turns dropped JSONL files into calls
// to a Phi-3 serverless endpoint, paced to the endpoint's limits. Deployed with `azd up`.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer Flex Consumption; it need not be the region of the Phi-3 deployment.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person (or pipeline) deploying: gets data access to storage and Cosmos DB to inspect jobs. Empty: none.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Name of the resource group to create. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

// What it bounds: on Flex Consumption maximumInstanceCount applies to each per-function scale group,
// not to the app. Each queue-triggered function (processRequests, processControl, the poison recorder)
// scales on its own; the HTTP functions share one group and the blob (Event Grid) trigger another. So
// up to about 10 instances per group, not 10 in all.
// Why 10: the endpoint's budget, not the instance count, bounds the calls: with
// PHI3_BUDGET_SCOPE=deployment (the default) every instance claims capacity from one budget kept in
// Cosmos DB, whichever group it serves. 1,000 requests/min at ~2 s per call is ~35 calls in flight,
// which one instance (PHI3_MAX_CONCURRENCY calls each) already carries; 10 per group lets a backlog
// spread without fanning out to Flex's default of 100. Every instance that is up also polls its queue,
// opens its own Cosmos DB and endpoint connections and contends for the shared budget document, so
// more instances cost more without sending more: instance counts change the bill, not the limit.
// With PHI3_BUDGET_SCOPE=instance each instance paces itself to the whole budget: then set this to 1
// (and note that each queue-triggered function still gets its own instance).
@minValue(1)
@maxValue(1000)
@description('Upper bound on Flex Consumption instances.')
param maximumInstanceCount int = 10

@allowed([
  512
  2048
  4096
])
@description('Memory per Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------------------------------------
// Cosmos DB capacity
// ---------------------------------------------------------------------------------------------

@allowed([
  'serverless'
  'provisioned'
])
@description('serverless: pay per request unit, nothing when idle. provisioned: autoscale throughput shared by the database.')
param cosmosCapacityMode string = 'serverless'

@minValue(1000)
@description('Autoscale maximum RU/s of the database when cosmosCapacityMode is provisioned (it scales down to 10%).')
param cosmosAutoscaleMaxThroughput int = 1000

// ---------------------------------------------------------------------------------------------
// Event Grid
// ---------------------------------------------------------------------------------------------

// Event Grid validates a webhook when the subscription is created, and the function's webhook only
// exists once the code is deployed, which `azd up` does after provisioning. So the subscription is
// left out of the first provisioning and created by the postdeploy hook (infra/scripts/postdeploy.*)
// from infra/app/eventgrid-subscription.bicep. Set DEPLOY_EVENT_SUBSCRIPTION=true to have every later
// `azd provision` keep it in step as well (only once code is deployed to this environment).
@description('Create the Event Grid subscription that feeds the ingest function (needs the code deployed).')
param deployEventSubscription bool = false

// ---------------------------------------------------------------------------------------------
// Names the app reads from its settings (defaults equal those in src/config.ts SETTINGS)
// ---------------------------------------------------------------------------------------------

@description('INPUT_CONTAINER: where users drop JSONL files.')
param inputContainerName string = 'batch-input'

@description('OUTPUT_CONTAINER: where result files are written.')
param outputContainerName string = 'batch-output'

@description('REQUEST_QUEUE: the fan-out queue the worker drains.')
param requestQueueName string = 'batch-requests'

@description('CONTROL_QUEUE: finalisation messages.')
param controlQueueName string = 'batch-control'

@description('COSMOS_DATABASE')
param cosmosDatabaseName string = 'phi3batch'

@description('COSMOS_JOBS_CONTAINER')
param cosmosJobsContainerName string = 'jobs'

@description('COSMOS_LINES_CONTAINER')
param cosmosLinesContainerName string = 'lines'

@description('COSMOS_BUDGET_CONTAINER: the shared rate budget of each deployment.')
param cosmosBudgetContainerName string = 'budget'

@description('COSMOS_LEDGER_CONTAINER: one record per billed call.')
param cosmosLedgerContainerName string = 'ledger'

@description('COSMOS_ROLLUPS_CONTAINER: cost per day and model.')
param cosmosRollupsContainerName string = 'rollups'

@description('COSMOS_CACHE_CONTAINER: stored answers of the response cache.')
param cosmosCacheContainerName string = 'cache'

// ---------------------------------------------------------------------------------------------
// The Phi-3 endpoint and how the app uses it (defaults equal those in src/config.ts SETTINGS)
// ---------------------------------------------------------------------------------------------

@minLength(1)
@description('PHI3_ENDPOINT: target URI of the serverless deployment, e.g. https://<name>.<region>.models.ai.azure.com')
param phi3Endpoint string

@secure()
@minLength(1)
@description('PHI3_API_KEY: key of the serverless deployment. Stored in Key Vault; the app gets a Key Vault reference.')
param phi3ApiKey string

@description('PHI3_MODEL: model name, used for token counting and pricing.')
param phi3Model string = 'Phi-3-mini-4k-instruct'

@description('PHI3_DEPLOYMENT: name of the deployment (budget, ledger and reports use it). Empty: the endpoint host name.')
param phi3Deployment string = ''

@description('PHI3_API_VERSION')
param phi3ApiVersion string = '2024-05-01-preview'

@minValue(1)
@description('PHI3_RPM_LIMIT: requests per minute of the deployment.')
param phi3RpmLimit int = 1000

@minValue(1)
@description('PHI3_TPM_LIMIT: tokens per minute of the deployment.')
param phi3TpmLimit int = 200000

@description('PHI3_CONTEXT_LENGTH: prompt + max_tokens the model accepts. Empty: what the model name says (4k, 8k, 128k).')
param phi3ContextLength string = ''

@description('PHI3_BUDGET_UTILIZATION: share of the limits to use, greater than 0 and at most 1.')
param phi3BudgetUtilization string = '0.98'

@allowed([
  'deployment'
  'instance'
])
@description('PHI3_BUDGET_SCOPE: deployment = one budget shared by all instances (in Cosmos DB); instance = each process alone.')
param phi3BudgetScope string = 'deployment'

@minValue(50)
@maxValue(60000)
@description('PHI3_BUDGET_SLICE_MS: how much of the shared timeline an instance claims at a time.')
param phi3BudgetSliceMs int = 1000

// JSON values (this and phi3Prices) reach main.parameters.json as raw text: escape their double
// quotes when setting them with azd env set (see docs/deploy.md).
@description('PHI3_EXTRA_DEPLOYMENTS: JSON array of further deployments; each names in apiKeySetting the setting with its key.')
param phi3ExtraDeployments string = ''

@description('Comma-separated apiKeySetting names of the extra deployments. Each becomes a Key Vault reference to the secret named like it in lower case with dashes (PHI3_KEY_WEST: phi3-key-west), which you store in the vault.')
param phi3ExtraKeySettings string = ''

@minValue(100)
@description('PHI3_TIMEOUT_MS: the shortest time limit of a call; calls that may write more get the time their max_tokens need.')
param phi3TimeoutMs int = 60000

@allowed([
  'auto'
  'always'
  'never'
])
@description('PHI3_STREAM: auto = stream the calls a whole-answer time limit could cut; always; never.')
param phi3Stream string = 'auto'

@minValue(1)
@maxValue(4096)
@description('PHI3_MAX_CONCURRENCY: the most calls in flight per instance; the working number follows the endpoint latency.')
param phi3MaxConcurrency int = 1024

@minValue(1)
@description('DEFAULT_MAX_TOKENS: max_tokens for lines that set none.')
param defaultMaxTokens int = 1024

@description('PHI3_RETURN_UNUSED_TOKENS')
param phi3ReturnUnusedTokens bool = false

@minValue(1)
@maxValue(100)
@description('RETRY_MAX_ATTEMPTS')
param retryMaxAttempts int = 6

@minValue(0)
@description('RETRY_BASE_DELAY_MS')
param retryBaseDelayMs int = 500

@minValue(0)
@description('RETRY_MAX_DELAY_MS')
param retryMaxDelayMs int = 30000

@minValue(0)
@description('RETRY_MAX_INLINE_WAIT_MS')
param retryMaxInlineWaitMs int = 30000

@minValue(1000)
@maxValue(604800000)
@description('RETRY_MAX_REQUEUE_DELAY_MS')
param retryMaxRequeueDelayMs int = 3600000

@minValue(1024)
@maxValue(16777216)
@description('MAX_LINE_BYTES')
param maxLineBytes int = 1048576

@minValue(1)
@description('MAX_LINES_PER_FILE')
param maxLinesPerFile int = 1000000

@minValue(1)
@maxValue(1000)
@description('MAX_PAGE_SIZE')
param maxPageSize int = 100

@minValue(1)
@maxValue(256)
@description('QUEUE_MESSAGE_MAX_REQUESTS: requests per work message')
param queueMessageMaxRequests int = 32

@minValue(1)
@description('INGEST_CHUNK_LINES: lines one ingest invocation reads before a continuation takes over')
param ingestChunkLines int = 200000

@minValue(0)
@description('INGEST_EXACT_TOKEN_LINES: lines whose prompt tokens are counted exactly for the estimate')
param ingestExactTokenLines int = 1000

@description('PHI3_PRICES: JSON array of prices. Empty: the built-in price table.')
param phi3Prices string = ''

@description('DEFAULT_MAX_COST_PER_JOB: spending cap of a job that sets none, in the price currency (e.g. 2.50). Empty: no cap.')
param defaultMaxCostPerJob string = ''

@description('BUDGETS: daily and monthly spending limits per deployment or tag, e.g. deployment:phi3-mini:monthly=50,tag:project=x:daily=5:action=wait. Empty: none.')
param budgets string = ''

@allowed([
  'temperature-zero'
  'all'
  'off'
])
@description('RESPONSE_CACHE: which requests are answered from stored answers (a job may say cache=true|false).')
param responseCache string = 'temperature-zero'

@minValue(1)
@maxValue(3650)
@description('RESPONSE_CACHE_MAX_AGE_DAYS: the oldest stored answer used; also the cache container\'s TTL.')
param responseCacheMaxAgeDays int = 30

@minValue(1024)
@maxValue(1500000)
@description('RESPONSE_CACHE_MAX_ANSWER_BYTES: completions larger than this (as JSON) are not stored.')
param responseCacheMaxAnswerBytes int = 65536

@minValue(0)
@description('RETENTION_OUTCOMES_DAYS: days line outcomes are kept after their job ends (Cosmos TTL on lines, and the sweeper); 0 = for ever, else at least 8.')
param retentionOutcomesDays int = 30

@minValue(0)
@description('RETENTION_FILES_DAYS: days output and error files are kept (Blob lifecycle rule on the output container, and the sweeper); 0 = for ever.')
param retentionFilesDays int = 30

@minValue(0)
@description('LEDGER_RETENTION_DAYS: days ledger entries and cost rollups are kept (Cosmos TTL), the billing record; 0 = for ever.')
param ledgerRetentionDays int = 400

@description('FEEDER_SCHEDULE: NCRONTAB schedule (with seconds) of the feeder that tops the work queue up from the backlogs of the jobs.')
param feederSchedule string = '*/10 * * * * *'

@description('SWEEPER_SCHEDULE: NCRONTAB schedule (with seconds) of the sweeper that resumes stalled jobs.')
param sweeperSchedule string = '0 */5 * * * *'

@minValue(1000)
@description('SWEEPER_STALL_MS: how long a job may show no progress before the sweeper acts.')
param sweeperStallMs int = 900000

@minValue(1000)
@description('MIN_COMPLETION_WINDOW_MS: the shortest completion_window a batch may ask for (the longest is 7 days).')
param minCompletionWindowMs int = 3600000

@description('WEBHOOK_URL: where batch.completed/failed/cancelled/expired events are posted. Empty: no webhooks. The signing secret is the Key Vault secret webhook-secret (whsec_...), which you store in the vault.')
param webhookUrl string = ''

@description('WEBHOOK_RETRY_DELAYS_MS: waits before each retry of a refused webhook delivery (about 28 h in all by default).')
param webhookRetryDelaysMs string = '5000,300000,1800000,7200000,18000000,36000000,36000000'

// ---------------------------------------------------------------------------------------------
// Derived names
// ---------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
// The function the Event Grid subscription delivers to (src/functions/ingestBlob.ts).
var ingestFunctionName = 'ingestBlob'
var eventGridDeadLetterContainerName = 'eventgrid-deadletter'
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'
var keyVaultUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/'

// Blob containers: the app's two, the code package, the host's blob receipts, undeliverable events.
var blobContainerNames = [
  inputContainerName
  outputContainerName
  deploymentContainerName
  'azure-webjobs-hosts'
  eventGridDeadLetterContainerName
]

// Queues: each queue trigger's queue and the poison queue the host moves failed messages to
// (the request queue's poison queue has a trigger too, so it has one of its own), and the blob
// trigger's poison queue.
var queueNames = [
  requestQueueName
  '${requestQueueName}-poison'
  '${requestQueueName}-poison-poison'
  controlQueueName
  '${controlQueueName}-poison'
  'webjobs-blobtrigger-poison'
]

// Cosmos TTL in seconds (null: no TTL). Outcome TTL counts from each outcome's write, so the app's own
// pass (from the job's end) removes most of them first; TTL is the backstop that needs no code.
var outcomesTtl = retentionOutcomesDays == 0 ? null : retentionOutcomesDays * 86400
var ledgerTtl = ledgerRetentionDays == 0 ? null : ledgerRetentionDays * 86400

// Cosmos DB containers. A new container is one entry here. Only the paths queries filter or sort
// on are indexed; everything else, including the large response payloads, is not.
var cosmosContainers = [
  {
    // Jobs: point reads by id, the job list ordered by creation time across partitions, and the
    // retention pass's jobs finished before a time whose data is not yet removed. No TTL: a job
    // (or its tombstone once deleted) names its ledger entries in reports.
    id: cosmosJobsContainerName
    partitionKeyPath: '/id'
    includedPaths: [
      {
        path: '/createdAtInMs/?'
      }
      {
        path: '/status/?'
      }
      {
        path: '/finishedAtInMs/?'
      }
      {
        // Top jobs by cost (docs/data-model.md).
        path: '/usage/costInNanos/?'
      }
      {
        path: '/removed/*'
      }
    ]
    excludedPaths: [
      {
        path: '/*'
      }
    ]
  }
  {
    // Line outcomes of one job share its partition; id is the line number.
    id: cosmosLinesContainerName
    partitionKeyPath: '/jobId'
    defaultTtl: outcomesTtl
    includedPaths: [
      {
        path: '/jobId/?'
      }
      {
        path: '/line/?'
      }
      {
        path: '/status/?'
      }
      {
        path: '/promptTokens/?'
      }
      {
        path: '/completionTokens/?'
      }
      {
        path: '/costInNanos/?'
      }
    ]
    excludedPaths: [
      {
        path: '/response/*'
      }
      {
        path: '/error/*'
      }
      {
        path: '/*'
      }
    ]
  }
  {
    // The shared rate budget: one small document per deployment, point reads and conditional replaces.
    id: cosmosBudgetContainerName
    partitionKeyPath: '/id'
    includedPaths: []
    excludedPaths: [
      {
        path: '/*'
      }
    ]
  }
  {
    // The usage ledger: one document per call, written before it is sent and settled when the answer
    // comes, grouped by job; read back per job in call order, or listed whole and summed per day and
    // model by the app. Two writes per call: only what the queries filter or sort on is indexed.
    id: cosmosLedgerContainerName
    partitionKeyPath: '/jobId'
    defaultTtl: ledgerTtl
    includedPaths: [
      {
        path: '/jobId/?'
      }
      {
        path: '/atInMs/?'
      }
    ]
    excludedPaths: [
      {
        path: '/*'
      }
    ]
  }
  {
    // Cost rollups: one document per day, model and job, read back by day range, and by job when it is refreshed.
    id: cosmosRollupsContainerName
    partitionKeyPath: '/day'
    defaultTtl: ledgerTtl
    includedPaths: [
      {
        path: '/day/?'
      }
      {
        path: '/jobId/?'
      }
    ]
    excludedPaths: [
      {
        path: '/*'
      }
    ]
  }
  {
    // Response cache: point reads and writes by id (the request's hash), nothing queried. Answers expire
    // after the maximum age (the app checks the age on read as well).
    id: cosmosCacheContainerName
    partitionKeyPath: '/id'
    includedPaths: []
    excludedPaths: [
      {
        path: '/*'
      }
    ]
    defaultTtl: responseCacheMaxAgeDays * 86400
  }
]

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    containerNames: blobContainerNames
    queueNames: queueNames
    outputContainerName: outputContainerName
    outputRetentionDays: retentionFilesDays
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    location: location
    tags: tags
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    databaseName: cosmosDatabaseName
    containers: cosmosContainers
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    phi3ApiKey: phi3ApiKey
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    principalId: principalId
    principalType: principalType
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.eventGridSystemTopics}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
  }
}

// Every setting the app reads (src/config.ts SETTINGS), each from one parameter or resource.
// Identity and monitoring settings are added by the api module.
var appSettings = {
  INPUT_CONTAINER: inputContainerName
  OUTPUT_CONTAINER: outputContainerName
  REQUEST_QUEUE: requestQueueName
  CONTROL_QUEUE: controlQueueName
  COSMOS_ENDPOINT: cosmos.outputs.endpoint
  COSMOS_DATABASE: cosmosDatabaseName
  COSMOS_JOBS_CONTAINER: cosmosJobsContainerName
  COSMOS_LINES_CONTAINER: cosmosLinesContainerName
  COSMOS_BUDGET_CONTAINER: cosmosBudgetContainerName
  COSMOS_LEDGER_CONTAINER: cosmosLedgerContainerName
  COSMOS_ROLLUPS_CONTAINER: cosmosRollupsContainerName
  COSMOS_CACHE_CONTAINER: cosmosCacheContainerName
  // Cosmos DB is reached with the user-assigned identity: local (key) auth is disabled.
  AZURE_CLIENT_ID: identity.outputs.clientId
  PHI3_ENDPOINT: phi3Endpoint
  PHI3_API_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.phi3KeyUri})'
  PHI3_MODEL: phi3Model
  PHI3_DEPLOYMENT: phi3Deployment
  PHI3_API_VERSION: phi3ApiVersion
  PHI3_RPM_LIMIT: string(phi3RpmLimit)
  PHI3_TPM_LIMIT: string(phi3TpmLimit)
  PHI3_CONTEXT_LENGTH: phi3ContextLength
  PHI3_BUDGET_UTILIZATION: phi3BudgetUtilization
  PHI3_BUDGET_SCOPE: phi3BudgetScope
  PHI3_BUDGET_SLICE_MS: string(phi3BudgetSliceMs)
  PHI3_EXTRA_DEPLOYMENTS: phi3ExtraDeployments
  PHI3_TIMEOUT_MS: string(phi3TimeoutMs)
  PHI3_STREAM: phi3Stream
  PHI3_MAX_CONCURRENCY: string(phi3MaxConcurrency)
  DEFAULT_MAX_TOKENS: string(defaultMaxTokens)
  // string(bool) gives 'True'/'False'; the app accepts only 'true'/'false'.
  PHI3_RETURN_UNUSED_TOKENS: phi3ReturnUnusedTokens ? 'true' : 'false'
  RETRY_MAX_ATTEMPTS: string(retryMaxAttempts)
  RETRY_BASE_DELAY_MS: string(retryBaseDelayMs)
  RETRY_MAX_DELAY_MS: string(retryMaxDelayMs)
  RETRY_MAX_INLINE_WAIT_MS: string(retryMaxInlineWaitMs)
  RETRY_MAX_REQUEUE_DELAY_MS: string(retryMaxRequeueDelayMs)
  MAX_LINE_BYTES: string(maxLineBytes)
  MAX_LINES_PER_FILE: string(maxLinesPerFile)
  MAX_PAGE_SIZE: string(maxPageSize)
  QUEUE_MESSAGE_MAX_REQUESTS: string(queueMessageMaxRequests)
  INGEST_CHUNK_LINES: string(ingestChunkLines)
  INGEST_EXACT_TOKEN_LINES: string(ingestExactTokenLines)
  PHI3_PRICES: phi3Prices
  DEFAULT_MAX_COST_PER_JOB: defaultMaxCostPerJob
  BUDGETS: budgets
  RESPONSE_CACHE: responseCache
  RESPONSE_CACHE_MAX_AGE_DAYS: string(responseCacheMaxAgeDays)
  RESPONSE_CACHE_MAX_ANSWER_BYTES: string(responseCacheMaxAnswerBytes)
  SWEEPER_SCHEDULE: sweeperSchedule
  RETENTION_OUTCOMES_DAYS: string(retentionOutcomesDays)
  RETENTION_FILES_DAYS: string(retentionFilesDays)
  LEDGER_RETENTION_DAYS: string(ledgerRetentionDays)
  FEEDER_SCHEDULE: feederSchedule
  SWEEPER_STALL_MS: string(sweeperStallMs)
  MIN_COMPLETION_WINDOW_MS: string(minCompletionWindowMs)
  WEBHOOK_URL: webhookUrl
  WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/webhook-secret)'
  WEBHOOK_RETRY_DELAYS_MS: webhookRetryDelaysMs
}

// The keys of the extra deployments, each a Key Vault reference named by its apiKeySetting.
var extraKeySettingNames = filter(map(split(phi3ExtraKeySettings, ','), name => trim(name)), name => !empty(name))
var extraKeySettings = toObject(extraKeySettingNames, name => name, name => '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${toLower(replace(name, '_', '-'))})')

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: union(appSettings, extraKeySettings)
  }
  // The Key Vault reference and the identity connections resolve only once the roles exist.
  dependsOn: [
    rbac
  ]
}

module eventSubscription 'app/eventgrid-subscription.bicep' = if (deployEventSubscription) {
  name: 'eventgrid-subscription'
  scope: rg
  params: {
    systemTopicName: eventGrid.outputs.name
    storageAccountName: storage.outputs.name
    functionAppName: api.outputs.name
    functionName: ingestFunctionName
    inputContainerName: inputContainerName
    deadLetterContainerName: eventGridDeadLetterContainerName
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd saves them in the environment; the postdeploy hook reads them)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
// For the CLI: `phi3-batch submit --account-url` signs in with Entra ID (no account key).
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output INPUT_CONTAINER_NAME string = inputContainerName
output OUTPUT_CONTAINER_NAME string = outputContainerName
output INGEST_FUNCTION_NAME string = ingestFunctionName
output EVENT_GRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output EVENT_GRID_DEADLETTER_CONTAINER_NAME string = eventGridDeadLetterContainerName
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_COSMOS_DATABASE string = cosmosDatabaseName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
