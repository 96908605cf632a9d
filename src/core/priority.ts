/** A job's share of its deployment's budget, relative to the other jobs that have work. */
export interface JobPriority {
  readonly level: 'high' | 'normal' | 'low' | undefined;
  readonly weight: number;
}

export const DEFAULT_PRIORITY: JobPriority = { level: 'normal', weight: 4 };
