/**
 * DNS-01 through an operator-supplied hook command (SPEC A2, RFC 8555 §8.4).
 *
 * The hook is an argv run with execFile — never a shell string — once per identifier with
 * `CERTFLEET_ACME_ACTION=present` before the CA is asked to validate and once with `cleanup` afterwards (always,
 * also after a failure or an abort). It receives:
 *
 * | variable | value |
 * | --- | --- |
 * | `CERTFLEET_ACME_ACTION` | `present` or `cleanup` |
 * | `CERTFLEET_ACME_DOMAIN` | the identifier without any `*.` (e.g. `example.com` for `*.example.com`) |
 * | `CERTFLEET_ACME_RECORD_NAME` | `_acme-challenge.<domain>` (no trailing dot) |
 * | `CERTFLEET_ACME_RECORD_VALUE` | the TXT value: base64url(SHA-256(key authorization)) |
 *
 * plus PATH, HOME, LANG, TZ from the controller — and nothing else of its environment (the controller's environment
 * may hold database URLs and other secrets; a hook reads its DNS provider credentials from its own config).
 * A name and its wildcard (`example.com`, `*.example.com`) need two TXT values under the same record name: `present`
 * must add a value, not replace the record, and `cleanup` must remove only the given value. `present` must return
 * only once the record is visible to the CA (propagation is the hook's job).
 *
 * A non-zero exit, a timeout or a signal is CF_ISSUER_CHALLENGE_FAILED with the tail of stderr (retryable: a DNS
 * provider API that is down today may be up tomorrow); a command that cannot be started is CF_ISSUER_CONFIG_INVALID.
 */
import { execFile } from 'node:child_process';
import { CertFleetError } from '@certfleet/shared';

export interface DnsHookConfig {
  /** argv; `command[0]` is an absolute path. */
  command: string[];
  timeoutMs: number;
}

export interface DnsHookRecord {
  domain: string;
  recordName: string;
  recordValue: string;
}

/** Characters of stderr kept in errors. */
const STDERR_TAIL = 2000;
/** Output beyond this is cut off (the hook keeps running; only what we keep is bounded). */
const MAX_OUTPUT_BYTES = 1024 * 1024;

function tail(text: string): string {
  const t = text.trimEnd();
  return t.length > STDERR_TAIL ? `…${t.slice(-STDERR_TAIL)}` : t;
}

/** The TXT record for `identifier` (a DNS name, possibly `*.`-prefixed) and its dns-01 value. */
export function dnsRecordFor(identifier: string, recordValue: string): DnsHookRecord {
  const domain = identifier.replace(/^\*\./, '').replace(/\.$/, '');
  return { domain, recordName: `_acme-challenge.${domain}`, recordValue };
}

/**
 * Runs the hook for one record. `signal` aborts a `present` (the child is killed); `cleanup` is normally run
 * without a signal so that it completes even when the issuance was aborted.
 */
export function runDnsHook(
  hook: DnsHookConfig,
  action: 'present' | 'cleanup',
  record: DnsHookRecord,
  signal?: AbortSignal
): Promise<{ stdout: string; stderr: string; ms: number }> {
  const [file, ...args] = hook.command;
  if (!file) throw new CertFleetError('CF_ISSUER_CONFIG_INVALID', 'acme(dns-01): dnsHook.command is empty');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...(process.env.HOME !== undefined ? { HOME: process.env.HOME } : {}),
    ...(process.env.LANG !== undefined ? { LANG: process.env.LANG } : {}),
    ...(process.env.TZ !== undefined ? { TZ: process.env.TZ } : {}),
    CERTFLEET_ACME_ACTION: action,
    CERTFLEET_ACME_DOMAIN: record.domain,
    CERTFLEET_ACME_RECORD_NAME: record.recordName,
    CERTFLEET_ACME_RECORD_VALUE: record.recordValue,
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env,
        timeout: hook.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_OUTPUT_BYTES,
        windowsHide: true,
        encoding: 'utf8',
        ...(signal ? { signal } : {}),
      },
      (err, stdout, stderr) => {
        const ms = Date.now() - started;
        if (!err) {
          resolve({ stdout, stderr, ms });
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null };
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const details = {
          action,
          domain: record.domain,
          recordName: record.recordName,
          command: hook.command[0],
          ms,
        };
        if (typeof e.code === 'string' && ['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR', 'ENOEXEC'].includes(e.code)) {
          reject(
            new CertFleetError('CF_ISSUER_CONFIG_INVALID', `acme(dns-01): cannot run hook ${file}: ${e.code}`, {
              cause: err,
              details,
            })
          );
          return;
        }
        const why =
          e.killed && ms >= hook.timeoutMs
            ? `timed out after ${hook.timeoutMs} ms`
            : typeof e.code === 'number'
              ? `exited with status ${e.code}`
              : e.signal
                ? `was killed by ${e.signal}`
                : e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
                  ? `wrote more than ${MAX_OUTPUT_BYTES} bytes`
                  : `failed: ${e.message}`;
        const stderrTail = tail(stderr || stdout || '');
        reject(
          new CertFleetError(
            'CF_ISSUER_CHALLENGE_FAILED',
            `acme(dns-01): hook ${action} for ${record.recordName} ${why}${stderrTail ? `: ${stderrTail}` : ''}`,
            {
              retryable: true,
              cause: err,
              details: { ...details, ...(typeof e.code === 'number' ? { exitCode: e.code } : {}), stderrTail },
            }
          )
        );
      }
    );
  });
}
