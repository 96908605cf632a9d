#!/bin/sh
# azd postdeploy hook: creates or updates the Event Grid subscription that feeds the ingest function.
#
# It cannot be part of the first provisioning: Event Grid validates the webhook when the subscription
# is created, and the function's blob extension webhook (and its blobs_extension key) exist only once
# the code is deployed and the host has started. So: wait for the key, then deploy
# infra/app/eventgrid-subscription.bicep into the resource group. Safe to run again.
# Needs the Azure CLI, signed in (az login) to the tenant azd uses.
set -eu

for name in AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME SERVICE_API_URI \
  AZURE_STORAGE_ACCOUNT_NAME INPUT_CONTAINER_NAME INGEST_FUNCTION_NAME \
  EVENT_GRID_SYSTEM_TOPIC_NAME EVENT_GRID_DEADLETTER_CONTAINER_NAME; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "postdeploy: $name is not set; run 'azd provision' first." >&2
    exit 1
  fi
done

if ! command -v az >/dev/null 2>&1; then
  echo "postdeploy: the Azure CLI (az) is required to create the Event Grid subscription." >&2
  echo "Install it, run 'az login', then 'azd hooks run postdeploy'." >&2
  exit 1
fi

echo "Waiting for the blob extension key of $AZURE_FUNCTION_APP_NAME..."
attempt=0
while :; do
  key=$(az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" -g "$AZURE_RESOURCE_GROUP" \
    -n "$AZURE_FUNCTION_APP_NAME" --query "systemKeys.blobs_extension" -o tsv 2>/dev/null || true)
  if [ -n "$key" ]; then
    break
  fi
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "postdeploy: no blobs_extension key after 5 minutes; is the ingest function deployed?" >&2
    echo "Retry with 'azd hooks run postdeploy'." >&2
    exit 1
  fi
  # Any request starts the host, which creates the key when it loads the blob trigger.
  curl -s -o /dev/null --max-time 30 "$SERVICE_API_URI/" 2>/dev/null || true
  sleep 10
done

echo "Deploying the Event Grid subscription for $INGEST_FUNCTION_NAME..."
az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name eventgrid-subscription \
  --template-file "$(dirname "$0")/../app/eventgrid-subscription.bicep" \
  --parameters \
    systemTopicName="$EVENT_GRID_SYSTEM_TOPIC_NAME" \
    storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" \
    functionAppName="$AZURE_FUNCTION_APP_NAME" \
    functionName="$INGEST_FUNCTION_NAME" \
    inputContainerName="$INPUT_CONTAINER_NAME" \
    deadLetterContainerName="$EVENT_GRID_DEADLETTER_CONTAINER_NAME" \
  --output none

echo "Files dropped into '$INPUT_CONTAINER_NAME' of $AZURE_STORAGE_ACCOUNT_NAME now start jobs."
