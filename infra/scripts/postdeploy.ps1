# azd postdeploy hook (Windows): creates or updates the Event Grid subscription that feeds the ingest
# function. See postdeploy.sh for why this runs after the code is deployed. Needs the Azure CLI.
$ErrorActionPreference = 'Stop'

$required = @('AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'SERVICE_API_URI',
  'AZURE_STORAGE_ACCOUNT_NAME', 'INPUT_CONTAINER_NAME', 'INGEST_FUNCTION_NAME',
  'EVENT_GRID_SYSTEM_TOPIC_NAME', 'EVENT_GRID_DEADLETTER_CONTAINER_NAME')
foreach ($name in $required) {
  if (-not [Environment]::GetEnvironmentVariable($name)) {
    Write-Error "postdeploy: $name is not set; run 'azd provision' first."
  }
}

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
  Write-Error "postdeploy: the Azure CLI (az) is required to create the Event Grid subscription. Install it, run 'az login', then 'azd hooks run postdeploy'."
}

Write-Host "Waiting for the blob extension key of $env:AZURE_FUNCTION_APP_NAME..."
$key = ''
for ($attempt = 1; $attempt -le 30; $attempt++) {
  $key = az functionapp keys list --subscription $env:AZURE_SUBSCRIPTION_ID -g $env:AZURE_RESOURCE_GROUP `
    -n $env:AZURE_FUNCTION_APP_NAME --query "systemKeys.blobs_extension" -o tsv 2>$null
  if ($key) { break }
  # Any request starts the host, which creates the key when it loads the blob trigger.
  try { Invoke-WebRequest -Uri "$env:SERVICE_API_URI/" -UseBasicParsing -TimeoutSec 30 | Out-Null } catch { }
  Start-Sleep -Seconds 10
}
if (-not $key) {
  Write-Error "postdeploy: no blobs_extension key after 5 minutes; is the ingest function deployed? Retry with 'azd hooks run postdeploy'."
}

Write-Host "Deploying the Event Grid subscription for $env:INGEST_FUNCTION_NAME..."
az deployment group create `
  --subscription $env:AZURE_SUBSCRIPTION_ID `
  --resource-group $env:AZURE_RESOURCE_GROUP `
  --name eventgrid-subscription `
  --template-file (Join-Path $PSScriptRoot '../app/eventgrid-subscription.bicep') `
  --parameters `
    systemTopicName=$env:EVENT_GRID_SYSTEM_TOPIC_NAME `
    storageAccountName=$env:AZURE_STORAGE_ACCOUNT_NAME `
    functionAppName=$env:AZURE_FUNCTION_APP_NAME `
    functionName=$env:INGEST_FUNCTION_NAME `
    inputContainerName=$env:INPUT_CONTAINER_NAME `
    deadLetterContainerName=$env:EVENT_GRID_DEADLETTER_CONTAINER_NAME `
  --output none
if ($LASTEXITCODE -ne 0) { Write-Error 'postdeploy: the Event Grid subscription deployment failed.' }

Write-Host "Files dropped into '$env:INPUT_CONTAINER_NAME' of $env:AZURE_STORAGE_ACCOUNT_NAME now start jobs."
