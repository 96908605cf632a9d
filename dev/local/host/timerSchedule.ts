import { CronExpressionParser } from 'cron-parser';
import { LocalHostError, LocalHostErrorCode } from './errors.js';
import { parseTimeSpan } from './hostJson.js';

export interface TimerSchedule {
  readonly expression: string;
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
}

/**
 * NCRONTAB with seconds (`{second} {minute} {hour} {day} {month} {day-of-week}`), the format Functions
 * requires, or a TimeSpan interval (`hh:mm:ss`). `timeZone` is IANA (WEBSITE_TIME_ZONE on Linux), default UTC.
 */
export function parseTimerSchedule(expression: string, functionName: string, timeZone = 'UTC'): TimerSchedule {
  const text = expression.trim();
  if (/^\d+(?:[.:]\d+)?:\d{1,2}:\d{1,2}$/.test(text)) {
    const intervalInMs = parseTimeSpan(text, `schedule of function "${functionName}"`);
    if (intervalInMs <= 0) {
      throw new LocalHostError(
        LocalHostErrorCode.InvalidSchedule,
        `Function "${functionName}": interval schedule "${expression}" must be longer than zero.`,
      );
    }
    return { expression: text, next: (after) => new Date(after.getTime() + intervalInMs) };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidSchedule,
      `Function "${functionName}": schedule "${expression}" must be an NCRONTAB expression with 6 fields ` +
        `({second} {minute} {hour} {day} {month} {day-of-week}), found ${fields.length}.`,
    );
  }
  try {
    // Parse once up front so a bad expression fails at start, not at the first tick.
    CronExpressionParser.parse(text, { tz: timeZone, strict: false });
  } catch (error) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidSchedule,
      `Function "${functionName}": schedule "${expression}" is not a valid NCRONTAB expression.`,
      { cause: error },
    );
  }
  return {
    expression: text,
    next: (after) => CronExpressionParser.parse(text, { tz: timeZone, currentDate: after }).next().toDate(),
  };
}
