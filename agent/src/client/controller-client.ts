/**
 * The agent's side of the channel (SPEC G1, G2): pins the controller's agent CA by its SHA-256 on first contact
 * (as kubeadm's discovery-token-ca-cert-hash), builds mutual-TLS credentials, and turns failed calls back into
 * typed CertFleetErrors from the `cf-code` trailer (STYLE §7.6).
 */
import crypto from 'node:crypto';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AgentServiceClient } from '@certfleet/proto';
import {
  CONTROLLER_GRPC_NAME,
  CertFleetError,
  ERROR_CODES,
  ERROR_CODE_TRAILER,
  MAX_AGENT_MESSAGE_BYTES,
  MAX_CONTROLLER_MESSAGE_BYTES,
  type ErrorCode,
} from '@certfleet/shared';

/** `host:port`, IPv6 in brackets. */
export function parseControllerAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new CertFleetError('CF_VALIDATION', `agent: --controller must be HOST:PORT, got ${JSON.stringify(address)}`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

function derToPem(der: Buffer): string {
  const b64 =
    der
      .toString('base64')
      .match(/.{1,64}/g)
      ?.join('\n') ?? '';
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * Connects once without trusting anything, and returns the certificate in the served chain whose SHA-256 equals
 * `caSha256` — and only if it really signed the served leaf. Anything else is refused before any secret is sent.
 */
export async function fetchPinnedCa(address: string, caSha256: string, timeoutMs = 10_000): Promise<string> {
  const want = caSha256.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (want.length !== 64) throw new CertFleetError('CF_VALIDATION', 'agent: --ca-sha256 must be 64 hex digits');
  const { host, port } = parseControllerAddress(address);
  const chain = await new Promise<tls.DetailedPeerCertificate>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: CONTROLLER_GRPC_NAME,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      socket.destroy();
      resolve(peer);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(
        new CertFleetError('CF_VALIDATION', `agent: no TLS answer from ${address} within ${timeoutMs} ms`, {
          retryable: true,
        })
      );
    });
    socket.once('error', (err) =>
      reject(new CertFleetError('CF_VALIDATION', `agent: cannot reach ${address}: ${err.message}`, { retryable: true }))
    );
  });
  const leaf = new crypto.X509Certificate(chain.raw);
  let current: tls.DetailedPeerCertificate | undefined = chain;
  for (let depth = 0; current && depth < 5; depth += 1) {
    const fp = crypto.createHash('sha256').update(current.raw).digest('hex');
    if (fp === want) {
      const ca = new crypto.X509Certificate(current.raw);
      if (!ca.ca || !leaf.verify(ca.publicKey)) {
        throw new CertFleetError(
          'CF_AGENT_UNAUTHENTICATED',
          'agent: the pinned certificate did not sign the controller certificate'
        );
      }
      return derToPem(current.raw);
    }
    current = current.issuerCertificate === current ? undefined : current.issuerCertificate;
  }
  throw new CertFleetError(
    'CF_AGENT_UNAUTHENTICATED',
    `agent: ${address} does not present a CA with SHA-256 ${want} (wrong controller, or a machine in the middle)`
  );
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.ssl_target_name_override': CONTROLLER_GRPC_NAME,
  'grpc.default_authority': CONTROLLER_GRPC_NAME,
  'grpc.max_send_message_length': MAX_AGENT_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_CONTROLLER_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  // The agent runs its own reconnect loop with backoff; grpc's own reconnect stays short and bounded.
  'grpc.initial_reconnect_backoff_ms': 1000,
  'grpc.max_reconnect_backoff_ms': 5000,
};

/** A client for enrollment: server-authenticated TLS against the pinned CA, no client certificate. */
export function enrollmentClient(address: string, controllerCaPem: string): AgentServiceClient {
  return new AgentServiceClient(address, grpc.credentials.createSsl(Buffer.from(controllerCaPem)), CHANNEL_OPTIONS);
}

/** A mutual-TLS client with the agent's key and certificate. */
export function agentClient(
  address: string,
  identity: { controllerCaPem: string; keyPem: string; certPem: string }
): AgentServiceClient {
  return new AgentServiceClient(
    address,
    grpc.credentials.createSsl(
      Buffer.from(identity.controllerCaPem),
      Buffer.from(identity.keyPem),
      Buffer.from(identity.certPem)
    ),
    CHANNEL_OPTIONS
  );
}

/** A failed call as a typed CertFleetError (the controller's code from the trailer, else by gRPC status). */
export function errorFromStatus(err: grpc.ServiceError | grpc.StatusObject): CertFleetError {
  const raw = err.metadata?.get(ERROR_CODE_TRAILER)[0];
  const code = typeof raw === 'string' && (ERROR_CODES as readonly string[]).includes(raw) ? (raw as ErrorCode) : null;
  const retryable = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED].includes(
    err.code
  );
  return new CertFleetError(code ?? 'CF_INTERNAL', `controller: ${err.details}`, {
    retryable: code === null && retryable,
    details: { grpcStatus: err.code },
  });
}

/** Promisified unary call with a deadline. */
export function unary<Req, Res>(
  fn: (
    req: Req,
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: (e: grpc.ServiceError | null, r?: Res) => void
  ) => unknown,
  req: Req,
  timeoutMs = 30_000
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new grpc.Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      if (err) reject(errorFromStatus(err));
      else if (res === undefined) reject(new CertFleetError('CF_INTERNAL', 'controller: empty response'));
      else resolve(res);
    });
  });
}
