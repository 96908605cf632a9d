import { app, type InvocationContext } from '@azure/functions';
import { parseControlMessage } from '../core/controlMessage.js';
import { finalizeJob } from '../app/finalizeJob.js';
import { runIngestMessage } from '../app/ingestBlob.js';
import { deliverWebhook } from '../app/webhooks.js';
import { getServices } from '../compositionRoot.js';

export async function processControlHandler(payload: unknown, context: InvocationContext): Promise<void> {
  const message = parseControlMessage(payload);
  if (typeof message === 'string') throw new Error(`Malformed control message: ${message}`);
  const services = await getServices();
  if (message.kind === 'ingest') {
    const result = await runIngestMessage(message, services.ingestDeps(context));
    context.log(`ingest ${message.container}/${message.name}: ${result.kind}`);
    return;
  }
  if (message.kind === 'webhook') {
    const delivery = await deliverWebhook(message, services.webhookDeps(context));
    context.log(`webhook ${message.eventId} attempt ${message.attempt}: ${delivery}`);
    return;
  }
  const result = await finalizeJob(message.jobId, services.finalizeDeps(context));
  context.log(`finalize ${message.jobId}: ${result}`);
}

app.storageQueue('processControl', {
  queueName: '%CONTROL_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: processControlHandler,
});
