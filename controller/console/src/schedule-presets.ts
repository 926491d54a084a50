/** W6 schedule presets (SPEC M1): daily at an hour, every N hours, else a raw cron expression. Plain data. */

export type Mode = 'daily' | 'hours' | 'cron';
export const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12] as const;

/** The preset a cron expression is, if any: "0 H * * *" daily, "0 * * * *" / "0 *\/N * * *" every N hours. */
export function presetOf(cron: string): { mode: Mode; hour: number; every: number } {
  const daily = /^0 (\d{1,2}) \* \* \*$/.exec(cron);
  if (daily && Number(daily[1]) < 24) return { mode: 'daily', hour: Number(daily[1]), every: 4 };
  if (cron === '0 * * * *') return { mode: 'hours', hour: 6, every: 1 };
  const hours = /^0 \*\/(\d{1,2}) \* \* \*$/.exec(cron);
  if (hours && (HOUR_STEPS as readonly number[]).includes(Number(hours[1]))) {
    return { mode: 'hours', hour: 6, every: Number(hours[1]) };
  }
  return { mode: 'cron', hour: 6, every: 4 };
}

/** The cron expression the form's choice stands for (the raw field trimmed; the controller validates it). */
export function cronOf(mode: Mode, hour: number, every: number, raw: string): string {
  if (mode === 'daily') return `0 ${hour} * * *`;
  if (mode === 'hours') return every === 1 ? '0 * * * *' : `0 */${every} * * *`;
  return raw.trim();
}
