export {
  acmeIssuer,
  acmeIssuerConfigSchema,
  acmeOrderStateSchema,
  createAcmeIssuer,
  type AcmeIssuerConfig,
  type AcmeOrderState,
} from './acme-issuer';
export {
  startHttp01Responder,
  isValidChallengeToken,
  type ChallengeContext,
  type ChallengeResponder,
  type Http01Responder,
  type Http01ResponderOptions,
} from './http01-responder';
