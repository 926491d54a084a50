/**
 * `manual` issuer (SPEC A2, manual §2.10): commercial CAs without an API. The CSR goes out (download), the operator
 * orders the product at the vendor and records the order number and date, and uploads the issued certificate (and
 * chain) — see acquisition-service `uploadIssuedCertificate`. Until then the order is `pending`, polled daily.
 *
 * Config: `pollHours` (how often an unattended process looks again, default 24).
 */
import { z } from 'zod';
import type { IssueOutcome, IssueRequest } from './issuer';
import { defineIssuer } from './registry';

const configSchema = z
  .object({
    pollHours: z
      .number()
      .int()
      .min(1)
      .max(168)
      .default(24)
      .describe('hours between checks for an uploaded certificate'),
  })
  .strict();

function waitingFor(req: IssueRequest): string {
  return (
    `the certificate from the vendor: download the CSR (GET /api/v1/requests/${req.requestId}/csr), order the product, ` +
    `then upload the issued certificate with its chain (POST /api/v1/requests/${req.requestId}/certificate)`
  );
}

export const manualIssuer = defineIssuer({
  type: 'manual',
  title: 'Manual / commercial CA (CSR out, certificate in)',
  config: configSchema,
  create: (config, { ctx }) => {
    const later = (): Date => new Date(ctx.clock.now().getTime() + config.pollHours * 3600_000);
    const pending = (req: IssueRequest, state: Record<string, unknown>): IssueOutcome => ({
      kind: 'pending',
      state,
      retryAfter: later(),
      waitingFor: waitingFor(req),
    });
    return {
      issue: async (req) => pending(req, { orderedAt: ctx.clock.now().toISOString() }),
      poll: async (req, state) => {
        const uploaded = state.uploaded as { leafPem?: unknown; chainPem?: unknown } | undefined;
        if (uploaded && typeof uploaded.leafPem === 'string') {
          const chain = Array.isArray(uploaded.chainPem)
            ? uploaded.chainPem.filter((c): c is string => typeof c === 'string')
            : [];
          return { kind: 'issued', leafPem: uploaded.leafPem, chainPem: chain };
        }
        return pending(req, state);
      },
    };
  },
});
