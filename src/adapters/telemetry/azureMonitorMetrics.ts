import type { TokenCredential } from '@azure/identity';
import { AzureMonitorMetricExporter } from '@azure/monitor-opentelemetry-exporter';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OpenTelemetryMetrics } from './OpenTelemetryMetrics.js';

export interface AzureMonitorMetricsOptions {
  /** `APPLICATIONINSIGHTS_CONNECTION_STRING`: names the resource; carries no secret when `credential` is given. */
  readonly connectionString: string;
  /** Entra ID (the app's managed identity) instead of the connection string's instrumentation key. */
  readonly credential: TokenCredential;
  /** How often the metrics are sent. */
  readonly exportIntervalInMs?: number;
}

/**
 * Sends the app's metrics to Application Insights with the Azure Monitor exporter alone, signed in with
 * `credential` (the Application Insights resource should have local authentication disabled and grant the
 * identity "Monitoring Metrics Publisher"). The exporter, not the whole distro: the distro brings tracing
 * and a dozen instrumentations (database drivers among them) that double the deployed package for nothing
 * the app uses. Call once per process; `shutdown` flushes.
 */
export function startAzureMonitorMetrics(options: AzureMonitorMetricsOptions): {
  readonly metrics: OpenTelemetryMetrics;
  shutdown(): Promise<void>;
} {
  const exporter = new AzureMonitorMetricExporter({
    connectionString: options.connectionString,
    credential: options.credential,
  });
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: options.exportIntervalInMs ?? 60_000,
  });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    metrics: new OpenTelemetryMetrics(provider.getMeter('phi3-batch')),
    shutdown: () => provider.shutdown(),
  };
}
