export * from './manifest';
export * from './signing';
export * from './tar';
export {
  sealBundle,
  sealBundleWithManifest,
  encryptPayload,
  generatePassphrase,
  generateBundleKeyPair,
  leafSha256,
  sha256Hex,
} from './seal';
export type { BundleRecipient, SealBundleOptions, SealedBundle } from './seal';
export * from './open';
export * from './receipt';
