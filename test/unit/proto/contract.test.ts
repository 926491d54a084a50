/**
 * Contract test for certfleet.agent.v1: a grpc-js server built from the ts-proto output in proto/src/gen talks to a
 * client that @grpc/proto-loader builds at run time from the .proto file itself, so the two sides share no generated
 * code. Insecure credentials are fine here: this checks the protocol's shape, not its TLS (that is G2's mTLS tests).
 */
import anyTest, { type TestFn } from 'ava';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  type AgentMessage,
  AgentServiceClient,
  AgentServiceService,
  type AgentServiceServer,
  type EnrollRequest,
  JobStatus,
} from '@certfleet/proto';

/** A message as proto-loader presents it: proto field names (keepCase), int64 and enums as strings. */
type LoaderMessage = Record<string, unknown>;

interface LoaderAgentServiceClient extends grpc.Client {
  Enroll(
    request: LoaderMessage,
    callback: (err: grpc.ServiceError | null, response?: LoaderMessage) => void
  ): grpc.ClientUnaryCall;
  Connect(): grpc.ClientDuplexStream<LoaderMessage, LoaderMessage>;
}
type LoaderAgentServiceClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials
) => LoaderAgentServiceClient;

interface Ctx {
  server: grpc.Server;
  address: string;
  /** Each test installs the server behaviour it needs (tests in this file run serially). */
  impl: Partial<AgentServiceServer>;
  LoaderClient: LoaderAgentServiceClientConstructor;
}
const test = anyTest as TestFn<Ctx>;

const protoRoot = path.resolve(__dirname, '../../../proto');

test.before(async (t) => {
  const definition = await protoLoader.load('certfleet/agent/v1/agent_service.proto', {
    includeDirs: [protoRoot],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    certfleet: { agent: { v1: { AgentService: LoaderAgentServiceClientConstructor } } };
  };

  const impl: Partial<AgentServiceServer> = {};
  const server = new grpc.Server();
  const unimplemented = { code: grpc.status.UNIMPLEMENTED, details: 'no handler installed by this test' };
  server.addService(AgentServiceService, {
    enroll: (call, callback) => (impl.enroll ? impl.enroll(call, callback) : callback(unimplemented)),
    renewIdentity: (call, callback) =>
      impl.renewIdentity ? impl.renewIdentity(call, callback) : callback(unimplemented),
    // grpc-js turns an 'error' emitted on a server stream into the call's final status.
    connect: (call) => (impl.connect ? impl.connect(call) : call.emit('error', unimplemented)),
  } satisfies AgentServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p)
    )
  );
  t.context = { server, address: `127.0.0.1:${port}`, impl, LoaderClient: loaded.certfleet.agent.v1.AgentService };
});

test.after.always((t) => {
  t.context.server?.forceShutdown();
});

function loaderClient(t: { context: Ctx; teardown(fn: () => void): void }): LoaderAgentServiceClient {
  const client = new t.context.LoaderClient(t.context.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return client;
}

test.serial('G1 Enroll: every request and response field round-trips between proto-loader and ts-proto', async (t) => {
  let seen: EnrollRequest | undefined;
  t.context.impl.enroll = (call, callback) => {
    seen = call.request;
    callback(null, {
      agentId: `agt-${call.request.hostname}`,
      agentCertificatePem: '-----BEGIN CERTIFICATE-----\nAGENT\n-----END CERTIFICATE-----\n',
      controllerCaPem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
      bundleSigningPublicKey: 'bundle-signing-key',
    });
  };

  const response = await new Promise<LoaderMessage | undefined>((resolve, reject) =>
    loaderClient(t).Enroll(
      {
        join_token: 'jt_0123456789',
        csr_pem: '-----BEGIN CERTIFICATE REQUEST-----\nCSR\n-----END CERTIFICATE REQUEST-----\n',
        hostname: 'web-01.example.internal',
        agent_version: '0.1.0',
        bundle_public_key: 'age1recipient',
      },
      (err, res) => (err ? reject(err) : resolve(res))
    )
  );

  t.deepEqual(seen, {
    joinToken: 'jt_0123456789',
    csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nCSR\n-----END CERTIFICATE REQUEST-----\n',
    hostname: 'web-01.example.internal',
    agentVersion: '0.1.0',
    bundlePublicKey: 'age1recipient',
  });
  t.deepEqual(response, {
    agent_id: 'agt-web-01.example.internal',
    agent_certificate_pem: '-----BEGIN CERTIFICATE-----\nAGENT\n-----END CERTIFICATE-----\n',
    controller_ca_pem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
    bundle_signing_public_key: 'bundle-signing-key',
  });
});

test.serial('G2 Connect: one heartbeat each way on the bidirectional stream', async (t) => {
  const seen: AgentMessage[] = [];
  t.context.impl.connect = (call) => {
    call.on('data', (msg: AgentMessage) => {
      seen.push(msg);
      if (msg.payload?.$case === 'heartbeat') {
        call.write({
          payload: { $case: 'heartbeat', value: { sentAt: { seconds: '1767225660', nanos: 0 }, intervalSeconds: 30 } },
        });
      }
    });
    call.on('end', () => call.end());
  };

  const stream = loaderClient(t).Connect();
  const received: LoaderMessage[] = [];
  const status = new Promise<grpc.StatusObject>((resolve, reject) => {
    stream.on('data', (msg: LoaderMessage) => {
      received.push(msg);
      stream.end(); // one exchange is all this test needs; the server ends its half in turn
    });
    stream.on('status', resolve);
    stream.on('error', reject);
  });
  // 2026-01-01T00:00:00.123Z: int64 seconds travel as a decimal string on both sides (forceLong=string, longs: String).
  stream.write({ heartbeat: { sent_at: { seconds: '1767225600', nanos: 123_000_000 }, interval_seconds: 15 } });

  t.is((await status).code, grpc.status.OK);
  t.deepEqual(seen, [
    {
      payload: {
        $case: 'heartbeat',
        value: { sentAt: { seconds: '1767225600', nanos: 123_000_000 }, intervalSeconds: 15 },
      },
    },
  ]);
  t.deepEqual(received, [
    { payload: 'heartbeat', heartbeat: { sent_at: { seconds: '1767225660', nanos: 0 }, interval_seconds: 30 } },
  ]);
});

test.serial('G4 Connect: a Job with a sealed bundle reaches the agent and its JobResult comes back', async (t) => {
  const sealed = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);
  const seen: AgentMessage[] = [];
  t.context.impl.connect = (call) => {
    call.write({
      payload: {
        $case: 'job',
        value: { jobId: 'job-1', kind: { $case: 'installBundle', value: { bundleId: 'bnd-1', sealed } } },
      },
    });
    call.on('data', (msg: AgentMessage) => seen.push(msg));
    call.on('end', () => call.end());
  };

  const stream = loaderClient(t).Connect();
  const received: LoaderMessage[] = [];
  const status = new Promise<grpc.StatusObject>((resolve, reject) => {
    stream.on('data', (msg: LoaderMessage) => {
      received.push(msg);
      stream.write({
        job_result: {
          job_id: 'job-1',
          status: 'JOB_STATUS_SUCCEEDED',
          reason: 'Installed',
          message: 'nginx reloaded',
          finished_at: { seconds: '1767225601', nanos: 0 },
          served_sha256: 'ab'.repeat(32),
          rolled_back: false,
          observations: [{ endpoint: { host: 'intranet.example', port: 443, server_name: '' }, error: 'timeout' }],
        },
      });
      stream.end();
    });
    stream.on('status', resolve);
    stream.on('error', reject);
  });

  t.is((await status).code, grpc.status.OK);
  t.deepEqual(received, [
    {
      payload: 'job',
      job: { job_id: 'job-1', kind: 'install_bundle', install_bundle: { bundle_id: 'bnd-1', sealed } },
    },
  ]);
  t.deepEqual(seen, [
    {
      payload: {
        $case: 'jobResult',
        value: {
          jobId: 'job-1',
          status: JobStatus.JOB_STATUS_SUCCEEDED,
          reason: 'Installed',
          message: 'nginx reloaded',
          finishedAt: { seconds: '1767225601', nanos: 0 },
          servedSha256: 'ab'.repeat(32),
          stderrTail: '',
          idempotent: false,
          rolledBack: false,
          observations: [
            {
              endpoint: { host: 'intranet.example', port: 443, serverName: '', starttls: '' },
              error: 'timeout',
              certificateChain: [],
              protocol: '',
              cipher: '',
              handshakeMs: 0,
            },
          ],
        },
      },
    },
  ]);
});

test.serial('G2 the generated AgentServiceClient calls the same server', async (t) => {
  t.context.impl.enroll = (call, callback) =>
    callback(null, {
      agentId: `agt-${call.request.hostname}`,
      agentCertificatePem: '',
      controllerCaPem: '',
      bundleSigningPublicKey: '',
    });
  const client = new AgentServiceClient(t.context.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());

  const response = await new Promise((resolve, reject) =>
    client.enroll(
      { joinToken: 'jt', csrPem: '', hostname: 'db-02', agentVersion: '0.1.0', bundlePublicKey: '' },
      (err, res) => (err ? reject(err) : resolve(res))
    )
  );
  t.deepEqual(response, {
    agentId: 'agt-db-02',
    agentCertificatePem: '',
    controllerCaPem: '',
    bundleSigningPublicKey: '',
  });
});
