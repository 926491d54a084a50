/** I3 mutation fuzzing of DER certificates and keys. */
import { registerFuzzCampaign } from '../../../_helpers/fuzz';

registerFuzzCampaign('der', (fx) => [
  { label: 'rsa leaf .cer', path: fx.rsa.leafDer },
  { label: 'ec leaf .cer', path: fx.ec.leafDer },
  { label: 'ec PKCS#8 DER key', path: fx.ec.leafKeyDer },
  { label: 'rsa PKCS#8 DER key', path: fx.rsa.leafKeyDer },
]);
