/**
 * @certfleet/proto: TypeScript bindings for the CertFleet wire protocol.
 *
 * Re-exports only. Everything under ./gen is generated from the .proto files
 * by `npm run gen` (proto/buf.gen.yaml) and is never edited by hand.
 */
export * from './gen/certfleet/agent/v1/agent_service';
export * from './gen/google/protobuf/timestamp';
