/**
 * I3 mutation fuzzing of PKCS#12. Seeds use 64 iterations so that the mutated inputs that survive the structural
 * checks (only those reach a key derivation) stay cheap. MAC-protected seeds are resealed after half of the
 * mutations, and MAC-less seeds are included, so mutated bags, keys and certificates reach their parsers.
 */
import { PASSWORDS } from '../../../_helpers/fixtures';
import { registerFuzzCampaign } from '../../../_helpers/fuzz';

const options = { password: PASSWORDS.p12 };
registerFuzzCampaign('pkcs12', (fx) => [
  { label: 'rsa OpenSSL default', path: fx.rsa.p12Fast, options, reseal: 'pkcs12' },
  { label: 'ec OpenSSL default', path: fx.ec.p12Fast, options, reseal: 'pkcs12' },
  { label: 'ec OpenSSL -legacy', path: fx.ec.p12LegacyFast, options, reseal: 'pkcs12' },
  { label: 'rsa OpenSSL -legacy', path: fx.rsa.p12LegacyFast, options, reseal: 'pkcs12' },
  { label: 'ec keytool', path: fx.ec.p12KeytoolFast, options, reseal: 'pkcs12' },
  { label: 'rsa no MAC', path: fx.rsa.p12NoMac, options },
  { label: 'ec unprotected', path: fx.ec.p12Unprotected },
]);
