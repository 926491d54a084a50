/** I3 mutation fuzzing of DER PKCS#7 certificate bags. */
import { registerFuzzCampaign } from '../../../_helpers/fuzz';

registerFuzzCampaign('pkcs7-der', (fx) => [
  { label: 'rsa p7b', path: fx.rsa.p7bDer },
  { label: 'ec p7b', path: fx.ec.p7bDer },
]);
