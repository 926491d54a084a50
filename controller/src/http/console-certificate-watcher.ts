/**
 * Hot swap of the console's TLS certificate (SPEC U3): every `intervalMs` the running HTTPS server asks whether the
 * console definition has a new current certificate (renewed by the scheduler, or made current by an operator) and
 * switches to it with `setSecureContext` — new connections get it at once, open ones keep theirs, no restart.
 */
import type { Server } from 'node:https';
import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context';
import { auditConsoleCertificateInstalled, consoleCertificateToInstall } from '../services/console-certificate-service';

/** How often the console definition is looked at. */
export const CONSOLE_CERTIFICATE_CHECK_MS = 60_000;

export interface ConsoleCertificateWatcher {
  /** Checks now (also what the timer does); resolves with the SHA-256 served afterwards. */
  check(): Promise<string>;
  stop(): void;
}

export function watchConsoleCertificate(
  ctx: ServiceContext,
  server: Pick<Server, 'setSecureContext'>,
  servedSha256: string,
  log: Pick<Logger, 'info' | 'warn'>,
  intervalMs = CONSOLE_CERTIFICATE_CHECK_MS
): ConsoleCertificateWatcher {
  let served = servedSha256;
  let running: Promise<string> | undefined;
  const check = (): Promise<string> =>
    (running ??= (async () => {
      try {
        const next = await consoleCertificateToInstall(ctx, served);
        if (!next) return served;
        server.setSecureContext({ key: next.privateKeyPem, cert: next.certChainPem });
        const previous = served;
        served = next.sha256;
        log.info({ sha256: next.sha256, previousSha256: previous }, 'console TLS certificate installed');
        await auditConsoleCertificateInstalled(ctx, next, previous).catch((err: unknown) =>
          log.warn({ err: { message: (err as Error).message } }, 'console certificate installed; audit failed')
        );
        return served;
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'console TLS certificate check failed');
        return served;
      } finally {
        running = undefined;
      }
    })());
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
