/**
 * What the dashboard reads from the app's API: the fields it uses of GET /api/jobs and GET /api/costs.
 * Declared here rather than imported because the server's types live in modules written for Node;
 * test/dashboard/browserScript.test.ts checks at compile time that the server's answers fit them.
 */

export interface Amount {
  readonly amount: number;
  readonly currency: string;
}

/** One job of GET /api/jobs (the server's BatchObject). */
export interface WireJob {
  readonly id: string;
  readonly status: string;
  /** `container/name` of the input file. */
  readonly input_blob: string;
  readonly deployment: string;
  /** `high`, `normal`, `low`, or a weight from 1 to 100. */
  readonly priority: string | number;
  /** Its part (0..1) of its deployment's budget over the last minute; null when it is not running or not known. */
  readonly share: number | null;
  readonly request_counts: { readonly total: number; readonly completed: number; readonly failed: number };
  /** `done` is false while lines are still being read: the total can still grow. */
  readonly ingest: { readonly done: boolean };
  /** Every billed call so far. */
  readonly cost_so_far: Amount;
  /** The pre-flight range; null amounts when the job has no estimate. */
  readonly estimate: { readonly min_cost: number | null; readonly max_cost: number | null; readonly currency: string };
  /** Null when the job has no spending cap. */
  readonly spending_cap: { readonly max_cost: number; readonly currency: string; readonly reached: boolean } | null;
  /** Lines answered from the response cache and what their stored answers cost (absent from older servers). */
  readonly cache?: { readonly hits: number; readonly saved: Amount };
}

/** GET /api/jobs: a page of jobs. */
export interface WireJobsPage {
  readonly data: readonly WireJob[];
}

/** GET /api/costs?groupBy=day,model (or day,tag:<key>): one row per day and model (or tag value). */
export interface WireCostReport {
  /** The rows' currency ("mixed" when they use several). */
  readonly currency: string;
  readonly rows: readonly {
    readonly day?: string;
    readonly model?: string;
    /** A grouped tag's value (`"tag:project": "apollo"`), empty for jobs without the tag. */
    readonly [tag: `tag:${string}`]: string;
    readonly cost: number;
  }[];
  /** Null when the rows mix currencies. */
  readonly total: { readonly cost: number | null };
}

/** GET /api/metrics/budget: each deployment's use of its limits over the last minute, all instances. */
export interface WireBudgetUse {
  readonly deployments: readonly {
    readonly deployment: string;
    readonly requestsPerMinute: number;
    readonly tokensPerMinute: number;
    readonly requests: number;
    readonly tokens: number;
    readonly requestsUsed: number;
    readonly tokensUsed: number;
    readonly bindingUsed: number;
  }[];
}
