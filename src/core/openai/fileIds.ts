/** Files uploaded through `POST /v1/files`. */
const UPLOADED = /^file-([0-9a-f]{32})$/;
/** Files that belong to a job: the input of a dropped file, the output and error files. */
const OF_JOB = /^file-(input|output|errors)-([0-9a-f]{32})$/;

export type JobFileKind = 'input' | 'output' | 'errors';

export type FileRef =
  | { readonly kind: 'uploaded'; readonly id: string }
  | { readonly kind: JobFileKind; readonly id: string; readonly jobId: string };

export function uploadedFileId(hex32: string): string {
  return `file-${hex32}`;
}

/** A job's file id; the job id's digits make it unique and let it be found without an index. */
export function jobFileId(kind: JobFileKind, jobId: string): string {
  return `file-${kind}-${jobId.slice('job_'.length)}`;
}

export function parseFileId(id: string): FileRef | undefined {
  if (UPLOADED.test(id)) return { kind: 'uploaded', id };
  const match = OF_JOB.exec(id);
  if (match === null) return undefined;
  return { kind: match[1] as JobFileKind, id, jobId: `job_${match[2]!}` };
}
