/** W6 monitor schedule (SPEC M1): GET/PUT /api/v1/monitoring/schedule. */
import { apiCall } from './api';

export interface MonitorSchedule {
  cron: string;
  description: string;
  timezone: string;
  isDefault: boolean;
  defaultCron: string;
  nextRuns: string[];
  updatedAt: string | null;
  scheduled: { cron: string; timezone: string } | null;
  inEffect: boolean;
}

export function getMonitorSchedule(): Promise<MonitorSchedule> {
  return apiCall('GET', '/api/v1/monitoring/schedule');
}

/** `null` goes back to the default schedule. */
export function saveMonitorSchedule(cron: string | null): Promise<MonitorSchedule> {
  return apiCall('PUT', '/api/v1/monitoring/schedule', { cron });
}
