/** I3 mutation fuzzing of the PEM parser (certificates, PKCS#8/PKCS#1/SEC1, encrypted and legacy-encrypted keys). */
import { PASSWORDS } from '../../../_helpers/fixtures';
import { registerFuzzCampaign } from '../../../_helpers/fuzz';

registerFuzzCampaign('pem', (fx) => [
  { label: 'rsa shuffled bundle', path: fx.rsa.shuffledBundle },
  { label: 'ec bundle', path: fx.ec.bundle },
  { label: 'ec traditional key', path: fx.ec.leafKeyTraditional },
  { label: 'rsa bundle, encrypted PKCS#8', path: fx.rsa.bundleEncryptedKey, options: { password: PASSWORDS.key } },
  { label: 'ec legacy-encrypted key', path: fx.ec.leafKeyLegacyEncrypted, options: { password: PASSWORDS.key } },
]);
