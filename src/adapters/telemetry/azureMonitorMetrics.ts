import type { TokenCredential } from '@azure/identity';
import { shutdownAzureMonitor, useAzureMonitor } from '@azure/monitor-opentelemetry';
import { metrics } from '@opentelemetry/api';
import { OpenTelemetryMetrics } from './OpenTelemetryMetrics.js';

export interface AzureMonitorMetricsOptions {
  /** `APPLICATIONINSIGHTS_CONNECTION_STRING`: names the resource; carries no secret when `credential` is given. */
  readonly connectionString: string;
  /** Entra ID (the app's managed identity) instead of the connection string's instrumentation key. */
  readonly credential: TokenCredential;
}

/**
 * Sends the app's metrics to Application Insights through the Azure Monitor OpenTelemetry distro, signed
 * in with `credential` (the Application Insights resource should have local authentication disabled and
 * grant the identity "Monitoring Metrics Publisher"). Call once per process; `shutdown` flushes.
 */
export function startAzureMonitorMetrics(options: AzureMonitorMetricsOptions): {
  readonly metrics: OpenTelemetryMetrics;
  shutdown(): Promise<void>;
} {
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString: options.connectionString, credential: options.credential },
    enableLiveMetrics: false,
  });
  return {
    metrics: new OpenTelemetryMetrics(metrics.getMeter('phi3-batch')),
    shutdown: () => shutdownAzureMonitor(),
  };
}
